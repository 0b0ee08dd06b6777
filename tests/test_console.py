"""Merchant console: login for owner and staff, home, staff management."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shop import staff as staff_services
from tests.conftest import PASSWORD, in_shop, login_client, owner_client, shop_client

pytestmark = pytest.mark.django_db


def test_owner_logs_in_with_email_in_any_case(alpha: Any) -> None:
    client = shop_client(alpha)
    response = client.post("/console/login/", {"username": "OWNER@Alpha.test", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/console/"
    home = client.get("/console/")
    assert home.status_code == 200 and alpha.name in home.content.decode()


def test_wrong_password_shows_the_form_again(alpha: Any) -> None:
    response = shop_client(alpha).post("/console/login/", {"username": "owner@alpha.test", "password": "nope-nope"})
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_owner_of_one_shop_cannot_log_in_to_another(beta: Any) -> None:
    response = shop_client(beta).post("/console/login/", {"username": "owner@alpha.test", "password": PASSWORD})
    assert response.status_code == 200  # refused: the form again


def test_anonymous_visitors_are_sent_to_login(alpha: Any) -> None:
    response = shop_client(alpha).get("/console/staff/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def test_owner_adds_a_staff_member_who_can_then_log_in(beta: Any) -> None:
    client = owner_client(beta)
    response = client.post("/console/staff/", {"email": "Clerk@Beta.test", "name": "Clerk", "password": PASSWORD})
    assert response.status_code == 302
    page = client.get("/console/staff/").content.decode()
    assert "clerk@beta.test" in page
    staff = shop_client(beta)
    assert staff.post("/console/login/", {"username": "clerk@beta.test", "password": PASSWORD}).status_code == 302
    assert staff.get("/console/").status_code == 200


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email", "name": "X", "password": PASSWORD}, "email"),
        ({"email": "owner@beta.test", "name": "X", "password": PASSWORD}, "email"),
        ({"email": "x@beta.test", "name": "X", "password": "123"}, "password"),
        ({"email": "x@beta.test", "name": "X" * 101, "password": PASSWORD}, "name"),
    ],
)
def test_bad_staff_input_is_a_field_error_and_adds_no_one(beta: Any, data: dict[str, str], field: str) -> None:
    with in_shop(beta):
        before = staff_services.staff_list().count()
    page = owner_client(beta).post("/console/staff/", data)
    assert page.status_code == 400
    api = owner_client(beta).post("/api/v1/console/staff/", data=json.dumps(data), content_type="application/json")
    assert api.status_code == 400 and field in api.json()
    with in_shop(beta):
        assert staff_services.staff_list().count() == before


def test_only_the_owner_manages_staff(beta: Any) -> None:
    with in_shop(beta):
        staff_services.staff_add(beta, email="clerk@beta.test", name="Clerk", password=PASSWORD)
    clerk = login_client(beta, "clerk@beta.test")
    assert clerk.get("/console/staff/").status_code == 200  # may look
    refused = clerk.post("/console/staff/", {"email": "x@beta.test", "name": "X", "password": PASSWORD})
    assert refused.status_code == 404
    api = clerk.post(
        "/api/v1/console/staff/",
        data=json.dumps({"email": "x@beta.test", "password": PASSWORD}),
        content_type="application/json",
    )
    assert api.status_code == 403
    with in_shop(beta):
        assert not staff_services.staff_list().filter(email="x@beta.test").exists()


def test_deactivated_staff_cannot_log_in_and_the_owner_cannot_be_removed(beta: Any) -> None:
    with in_shop(beta):
        clerk = staff_services.staff_add(beta, email="clerk@beta.test", name="Clerk", password=PASSWORD)
        owner = staff_services.staff_list().get(is_owner=True)
    client = owner_client(beta)
    client.post(f"/console/staff/{clerk.pk}/", {"action": "deactivate"})
    assert (
        shop_client(beta).post("/console/login/", {"username": "clerk@beta.test", "password": PASSWORD}).status_code
        == 200
    )
    client.post(f"/console/staff/{owner.pk}/", {"action": "remove"})
    client.post(f"/console/staff/{owner.pk}/", {"action": "deactivate"})
    with in_shop(beta):
        owner.refresh_from_db()
        assert owner.is_active
    api = client.delete(f"/api/v1/console/staff/{owner.pk}/")
    assert api.status_code == 400
    assert client.delete(f"/api/v1/console/staff/{clerk.pk}/").status_code == 204
    with in_shop(beta):
        assert not staff_services.staff_list().filter(pk=clerk.pk).exists()


def test_api_token_login_lists_staff(beta: Any) -> None:
    token = (
        shop_client(beta)
        .post(
            "/api/v1/console/token/",
            data=json.dumps({"email": "owner@beta.test", "password": PASSWORD}),
            content_type="application/json",
        )
        .json()["token"]
    )
    response = shop_client(beta).get("/api/v1/console/staff/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and body["results"][0]["email"] == "owner@beta.test"
    assert "password" not in body["results"][0]
    patched = shop_client(beta).patch(
        f"/api/v1/console/staff/{body['results'][0]['id']}/",
        data=json.dumps({"name": "Boss"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Boss"


def test_token_request_with_bad_input_is_a_field_error(beta: Any) -> None:
    response = shop_client(beta).post(
        "/api/v1/console/token/", data=json.dumps({"email": "nope"}), content_type="application/json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}


def test_owner_sets_order_windows_and_shipping_fees(alpha: Any) -> None:
    from shop.checkout.models import ShippingTemplate
    from shop.checkout.services import shipping_fee
    from shop.models import ShopSettings

    client = owner_client(alpha)
    assert client.get("/console/settings/").status_code == 200
    good = {
        "unpaid_timeout_minutes": "15",
        "auto_confirm_days": "7",
        "after_sales_days": "7",
        "late_payment": "revive",
        "default_fee": "8",
        "free_over": "99.00",
        "rules": "新疆，西藏：20\n海外: -",
    }
    bad = client.post("/console/settings/", {**good, "unpaid_timeout_minutes": "1", "rules": "新疆 20"})
    assert bad.status_code == 400 and "新疆 20" in bad.content.decode()
    with in_shop(alpha):
        assert not ShippingTemplate.objects.exists()
    assert client.post("/console/settings/", good).status_code == 302
    with in_shop(alpha):
        assert (ShopSettings.current().unpaid_timeout_minutes, ShopSettings.current().late_payment) == (15, "revive")
        assert shipping_fee(5_000, "浙江省") == 800
        assert shipping_fee(5_000, "西藏") == 2000
        assert shipping_fee(5_000, "海外") is None  # not delivered
        assert shipping_fee(9_900, "浙江省") == 0  # free from ¥99


def test_staff_cannot_change_shop_settings(beta: Any) -> None:
    with in_shop(beta):
        staff_services.staff_add(beta, email="clerk@beta.test", name="", password=PASSWORD)
    assert login_client(beta, "clerk@beta.test").get("/console/settings/").status_code == 403
