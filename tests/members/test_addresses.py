"""Addresses through HTTP: validation, one default per member, the cap, and a member only
ever reaching their own addresses (web and API)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shop.members import services
from shop.members.models import MAX_ADDRESSES, Address
from tests.conftest import in_shop, shop_client
from tests.members.factories import ADDRESS, api_post, api_token, bearer, make_address, make_member, member_client

pytestmark = pytest.mark.django_db


def addresses_of(tenant: Any, member: Any) -> list[Address]:
    with in_shop(tenant):
        return list(Address.objects.filter(member=member).order_by("id"))


def default_of(tenant: Any, member: Any) -> int | None:
    with in_shop(tenant):
        found = Address.objects.filter(member=member, is_default=True).values_list("pk", flat=True)
        assert len(found) <= 1
        return found[0] if found else None


@pytest.fixture
def shopper(alpha: Any) -> Any:
    return make_member(alpha, phone="13800138000")


@pytest.fixture
def api(alpha: Any, shopper: Any) -> Any:
    return shop_client(alpha, **bearer(api_token(alpha, "13800138000")))


def _json(client: Any, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
    return getattr(client, method)(url, data=json.dumps(data or {}), content_type="application/json")


# --- create and validate ------------------------------------------------------------------


def test_the_first_address_becomes_the_default(alpha: Any, shopper: Any, api: Any) -> None:
    response = _json(api, "post", "/api/v1/members/addresses/", {**ADDRESS, "phone": "+86 139 0013 9000"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_default"] is True and body["phone"] == "13900139000"
    listed = api.get("/api/v1/members/addresses/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert api.get(f"/api/v1/members/addresses/{body['id']}/").json()["recipient"] == ADDRESS["recipient"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipient": ""}, "recipient"),
        ({"recipient": "名" * 31}, "recipient"),
        ({"phone": "12345"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"province": ""}, "province"),
        ({"city": "  "}, "city"),
        ({"district": "区" * 31}, "district"),
        ({"detail": ""}, "detail"),
        ({"detail": "路" * 121}, "detail"),
        ({"postal_code": "51800"}, "postal_code"),
        ({"postal_code": "51800A"}, "postal_code"),
    ],
)
def test_bad_address_input_is_a_field_error_and_writes_nothing(
    alpha: Any, shopper: Any, api: Any, changes: dict[str, str], field: str
) -> None:
    data = {**ADDRESS, **changes}
    response = _json(api, "post", "/api/v1/members/addresses/", data)
    assert response.status_code == 400 and list(response.json()) == [field]
    web = member_client(alpha, shopper).post("/account/addresses/new/", data)
    assert web.status_code == 400 and f'id="err_{field}"' in web.content.decode()
    assert addresses_of(alpha, shopper) == []


def test_missing_address_fields_are_all_reported_at_once(alpha: Any, shopper: Any, api: Any) -> None:
    response = _json(api, "post", "/api/v1/members/addresses/", {"postal_code": "1"})
    assert response.status_code == 400
    assert set(response.json()) == {"recipient", "phone", "province", "city", "district", "detail"}
    web = member_client(alpha, shopper).post("/account/addresses/new/", {})
    assert web.status_code == 400 and web.content.decode().count('class="errors"') == 6


def test_patch_validates_only_what_it_changes(alpha: Any, shopper: Any, api: Any) -> None:
    address = make_address(alpha, shopper)
    url = f"/api/v1/members/addresses/{address.pk}/"
    bad = _json(api, "patch", url, {"phone": "nope", "city": ""})
    assert bad.status_code == 400 and set(bad.json()) == {"phone", "city"}
    ok = _json(api, "patch", url, {"detail": "新地址 8 号", "postal_code": ""})
    assert ok.status_code == 200 and ok.json()["detail"] == "新地址 8 号" and ok.json()["postal_code"] == ""
    assert ok.json()["recipient"] == ADDRESS["recipient"]
    assert _json(api, "put", url, ADDRESS).status_code == 405


# --- one default --------------------------------------------------------------------------


def test_making_another_address_the_default_unsets_the_first(alpha: Any, shopper: Any, api: Any) -> None:
    first = make_address(alpha, shopper)
    second = _json(api, "post", "/api/v1/members/addresses/", {**ADDRESS, "is_default": True}).json()
    assert default_of(alpha, shopper) == second["id"]
    third = make_address(alpha, shopper, recipient="李四")
    assert default_of(alpha, shopper) == second["id"]  # added without is_default: unchanged
    response = api_post(api, f"/api/v1/members/addresses/{first.pk}/default/")
    assert response.status_code == 200 and response.json()["is_default"] is True
    assert default_of(alpha, shopper) == first.pk
    patched = _json(api, "patch", f"/api/v1/members/addresses/{third.pk}/", {"is_default": True})
    assert patched.json()["is_default"] is True and default_of(alpha, shopper) == third.pk
    listed = api.get("/api/v1/members/addresses/").json()["results"]
    assert listed[0]["id"] == third.pk and [a["is_default"] for a in listed].count(True) == 1


def test_the_database_refuses_two_defaults(alpha: Any, shopper: Any) -> None:
    from django.db import IntegrityError, transaction

    make_address(alpha, shopper)
    with in_shop(alpha), pytest.raises(IntegrityError), transaction.atomic():
        Address.objects.create(member=shopper, is_default=True, **ADDRESS)


def test_deleting_the_default_promotes_the_most_recent(alpha: Any, shopper: Any, api: Any) -> None:
    first = make_address(alpha, shopper, recipient="一")
    second = make_address(alpha, shopper, recipient="二")
    third = make_address(alpha, shopper, recipient="三")
    with in_shop(alpha):
        services.address_set_default(second)
    assert _json(api, "delete", f"/api/v1/members/addresses/{first.pk}/").status_code == 204
    assert default_of(alpha, shopper) == second.pk  # a non-default went: nothing changes
    assert _json(api, "delete", f"/api/v1/members/addresses/{second.pk}/").status_code == 204
    assert default_of(alpha, shopper) == third.pk
    assert _json(api, "delete", f"/api/v1/members/addresses/{third.pk}/").status_code == 204
    assert addresses_of(alpha, shopper) == [] and default_of(alpha, shopper) is None
    assert api.get(f"/api/v1/members/addresses/{third.pk}/").status_code == 404


def test_unsetting_the_default_leaves_none(alpha: Any, shopper: Any, api: Any) -> None:
    address = make_address(alpha, shopper)
    response = _json(api, "patch", f"/api/v1/members/addresses/{address.pk}/", {"is_default": False})
    assert response.status_code == 200 and default_of(alpha, shopper) is None


# --- the cap ------------------------------------------------------------------------------


def test_at_most_twenty_addresses(alpha: Any, shopper: Any, api: Any) -> None:
    for i in range(MAX_ADDRESSES):
        make_address(alpha, shopper, recipient=f"收件人{i}")
    response = _json(api, "post", "/api/v1/members/addresses/", ADDRESS)
    assert response.status_code == 400 and list(response.json()) == ["non_field_errors"]
    assert str(MAX_ADDRESSES) in response.json()["non_field_errors"][0]
    client = member_client(alpha, shopper)
    web = client.post("/account/addresses/new/", ADDRESS)
    assert web.status_code == 400 and str(MAX_ADDRESSES) in web.content.decode()
    assert 'href="/account/addresses/new/"' not in client.get("/account/").content.decode()
    assert len(addresses_of(alpha, shopper)) == MAX_ADDRESSES
    listed = api.get("/api/v1/members/addresses/").json()
    assert listed["count"] == MAX_ADDRESSES and len(listed["results"]) == MAX_ADDRESSES


# --- web pages ----------------------------------------------------------------------------


def test_address_pages_on_the_web(alpha: Any, shopper: Any) -> None:
    client = member_client(alpha, shopper)
    form = client.get("/account/addresses/new/").content.decode()
    assert 'name="recipient"' in form and 'name="is_default" checked' in form  # first: default
    created = client.post("/account/addresses/new/", ADDRESS)
    assert created.status_code == 302 and created["Location"] == "/account/"
    second = client.post("/account/addresses/new/", {**ADDRESS, "recipient": "李四", "is_default": "on"})
    assert second.status_code == 302
    first, other = addresses_of(alpha, shopper)
    assert default_of(alpha, shopper) == other.pk
    page = client.get("/account/").content.decode()
    assert "李四" in page and page.count('class="badge"') == 1
    edit = client.get(f"/account/addresses/{first.pk}/edit/").content.decode()
    assert f'value="{ADDRESS["detail"]}"' in edit
    changed = client.post(f"/account/addresses/{first.pk}/edit/", {**ADDRESS, "recipient": "王五"})
    assert changed.status_code == 302
    bad = client.post(f"/account/addresses/{first.pk}/edit/", {**ADDRESS, "phone": "1"})
    assert bad.status_code == 400 and 'id="err_phone"' in bad.content.decode()
    assert client.post(f"/account/addresses/{first.pk}/default/").status_code == 302
    assert default_of(alpha, shopper) == first.pk
    assert client.get(f"/account/addresses/{first.pk}/delete/").status_code == 405
    assert client.post(f"/account/addresses/{first.pk}/delete/").status_code == 302
    assert default_of(alpha, shopper) == other.pk
    [left] = addresses_of(alpha, shopper)
    assert left.recipient == "李四"


def test_adding_an_address_can_return_to_where_the_shopper_came_from(alpha: Any, shopper: Any) -> None:
    client = member_client(alpha, shopper)
    response = client.post("/account/addresses/new/?next=/checkout/", ADDRESS)
    assert response.status_code == 302 and response["Location"] == "/checkout/"


def test_address_pages_need_a_logged_in_member(alpha: Any, shopper: Any) -> None:
    address = make_address(alpha, shopper)
    anonymous = shop_client(alpha)
    response = anonymous.get(f"/account/addresses/{address.pk}/edit/")
    assert response.status_code == 302 and response["Location"].startswith("/account/login/?next=")
    assert anonymous.post(f"/account/addresses/{address.pk}/delete/").status_code == 302
    assert len(addresses_of(alpha, shopper)) == 1


# --- another member's address -------------------------------------------------------------


def test_another_members_address_is_a_404_on_the_web_and_the_api(alpha: Any, shopper: Any, api: Any) -> None:
    other = make_member(alpha, email="other@example.com")
    theirs = make_address(alpha, other, recipient="别人")
    client = member_client(alpha, shopper)
    assert client.get(f"/account/addresses/{theirs.pk}/edit/").status_code == 404
    assert client.post(f"/account/addresses/{theirs.pk}/edit/", ADDRESS).status_code == 404
    assert client.post(f"/account/addresses/{theirs.pk}/delete/").status_code == 404
    assert client.post(f"/account/addresses/{theirs.pk}/default/").status_code == 404
    url = f"/api/v1/members/addresses/{theirs.pk}/"
    assert api.get(url).status_code == 404
    assert _json(api, "patch", url, {"recipient": "x"}).status_code == 404
    assert _json(api, "delete", url).status_code == 404
    assert api_post(api, url + "default/").status_code == 404
    assert api.get("/api/v1/members/addresses/").json()["count"] == 0
    assert "别人" not in client.get("/account/").content.decode()
    [kept] = addresses_of(alpha, other)
    assert kept.recipient == "别人" and kept.is_default
