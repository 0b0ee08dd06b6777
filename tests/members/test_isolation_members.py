"""Members of one shop are unknown to every other shop; login and registration are rate
limited per client address and per shop."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from shop.members.models import Member
from tests.conftest import PASSWORD, in_shop, shop_client
from tests.members.factories import api_post, api_token, bearer, make_address, make_member, member_client

pytestmark = pytest.mark.django_db


def test_a_member_of_alpha_cannot_log_in_on_beta(alpha: Any, beta: Any) -> None:
    make_member(alpha, phone="13800138000", email="both@example.com")
    for login in ("13800138000", "both@example.com"):
        web = shop_client(beta).post("/account/login/", {"login": login, "password": PASSWORD})
        assert web.status_code == 400
        api = api_post(shop_client(beta), "/api/v1/members/login/", {"login": login, "password": PASSWORD})
        assert api.status_code == 400 and "token" not in api.json()
    with in_shop(beta):
        assert not Member.objects.exists()


def test_the_same_phone_can_register_in_two_shops_as_two_members(alpha: Any, beta: Any) -> None:
    make_member(alpha, phone="13800138000", password=PASSWORD)
    response = api_post(
        shop_client(beta), "/api/v1/members/register/", {"phone": "13800138000", "password": "beta-own-pass-42"}
    )
    assert response.status_code == 201
    refused = api_post(
        shop_client(alpha), "/api/v1/members/login/", {"login": "13800138000", "password": "beta-own-pass-42"}
    )
    assert refused.status_code == 400  # beta's password is not alpha's


def test_alphas_token_is_refused_on_beta(alpha: Any, beta: Any) -> None:
    make_member(alpha, email="t@example.com")
    make_member(beta, email="t@example.com")  # even a namesake
    token = api_token(alpha, "t@example.com")
    assert shop_client(alpha).get("/api/v1/members/me/", **bearer(token)).status_code == 200
    refused = shop_client(beta).get("/api/v1/members/me/", **bearer(token))
    assert refused.status_code == 401
    assert shop_client(beta).get("/api/v1/members/addresses/", **bearer(token)).status_code == 401


def test_alphas_session_cookie_means_nothing_on_beta(alpha: Any, beta: Any) -> None:
    member = make_member(alpha, email="s@example.com")
    alpha_client = member_client(alpha, member)
    cookie = alpha_client.cookies["sessionid"].value
    beta_client = shop_client(beta)
    beta_client.cookies["sessionid"] = cookie
    assert beta_client.get("/account/").status_code == 302
    assert beta_client.get("/api/v1/members/me/").status_code == 401


def test_alphas_address_id_is_a_404_on_beta(alpha: Any, beta: Any) -> None:
    alpha_member = make_member(alpha, email="a@example.com")
    address = make_address(alpha, alpha_member)
    beta_member = make_member(beta, email="b@example.com")
    with in_shop(beta):
        assert not beta_member.addresses.filter(pk=address.pk).exists()
    web = member_client(beta, beta_member)
    assert web.get(f"/account/addresses/{address.pk}/edit/").status_code == 404
    assert web.post(f"/account/addresses/{address.pk}/delete/").status_code == 404
    assert web.post(f"/account/addresses/{address.pk}/default/").status_code == 404
    api = shop_client(beta, **bearer(api_token(beta, "b@example.com")))
    assert api.get(f"/api/v1/members/addresses/{address.pk}/").status_code == 404
    assert api.delete(f"/api/v1/members/addresses/{address.pk}/").status_code == 404
    assert api_post(api, f"/api/v1/members/addresses/{address.pk}/default/").status_code == 404
    with in_shop(alpha):
        assert alpha_member.addresses.count() == 1


@override_settings(LOGIN_RATE_LIMIT="3/m")
@pytest.mark.parametrize(
    ("url", "bad", "good"),
    [
        (
            "/api/v1/members/login/",
            {"login": "right@example.com", "password": "wrong-pass-1"},
            {"login": "right@example.com", "password": PASSWORD},
        ),
        (
            "/api/v1/members/register/",
            {"email": "bad", "password": PASSWORD},
            {"email": "new@example.com", "password": PASSWORD},
        ),
    ],
)
def test_api_login_and_register_are_limited_per_address_and_per_shop(
    alpha: Any, beta: Any, url: str, bad: dict[str, str], good: dict[str, str]
) -> None:
    make_member(alpha, email="right@example.com")

    def attempt(tenant: Any, address: str, data: dict[str, str]) -> int:
        return int(api_post(shop_client(tenant, REMOTE_ADDR=address), url, data).status_code)

    assert [attempt(alpha, "203.0.113.7", bad) for _ in range(4)] == [400, 400, 400, 429]
    assert attempt(alpha, "203.0.113.7", good) == 429  # even the right input waits
    assert attempt(alpha, "198.51.100.9", bad) == 400  # another address has its own budget
    assert attempt(beta, "203.0.113.7", bad) == 400  # and so has the same address on another shop
    assert attempt(alpha, "198.51.100.9", good) in (200, 201)
    with in_shop(alpha):
        assert Member.objects.count() == (2 if "register" in url else 1)


@override_settings(LOGIN_RATE_LIMIT="2/m")
def test_web_login_and_register_are_limited_with_the_form_shown_again(alpha: Any, beta: Any) -> None:
    def login(tenant: Any) -> Any:
        return shop_client(tenant, REMOTE_ADDR="203.0.113.8").post(
            "/account/login/", {"login": "x@example.com", "password": "wrong-pass-1"}
        )

    assert [login(alpha).status_code for _ in range(2)] == [400, 400]
    limited = login(alpha)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert 'name="login"' in limited.content.decode()
    assert login(beta).status_code == 400
    register = shop_client(alpha, REMOTE_ADDR="203.0.113.8")
    statuses = [
        register.post("/account/register/", {"email": "bad", "password": PASSWORD}).status_code for _ in range(3)
    ]
    assert statuses == [400, 400, 429]
    with in_shop(alpha):
        assert not Member.objects.exists()
