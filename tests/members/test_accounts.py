"""Member accounts through HTTP: registration, login and logout (web session and API token),
profile and password."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password

from shop.members.models import Member, MemberToken
from shop.members.signals import member_logged_in
from tests.conftest import PASSWORD, in_shop, owner_client, shop_client
from tests.members.factories import api_post, api_token, bearer, make_member, member_client

pytestmark = pytest.mark.django_db


def members(tenant: Any) -> list[Member]:
    with in_shop(tenant):
        return list(Member.objects.all())


# --- registration -------------------------------------------------------------------------


def test_register_by_phone_on_the_web_logs_the_member_in(alpha: Any) -> None:
    client = shop_client(alpha)
    assert "csrfmiddlewaretoken" in client.get("/account/register/").content.decode()
    response = client.post("/account/register/", {"phone": "138 0013 8000", "name": "小明", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account/"
    home = client.get("/account/")
    assert home.status_code == 200
    page = home.content.decode()
    assert "13800138000" in page and "小明" in page
    [member] = members(alpha)
    assert member.phone == "13800138000" and member.email is None
    assert member.password != PASSWORD and check_password(PASSWORD, member.password)
    assert member.last_login is not None


def test_register_by_email_on_the_web_stores_it_lowercase_and_follows_next(alpha: Any) -> None:
    client = shop_client(alpha)
    response = client.post(
        "/account/register/", {"email": "Ann.Lee@Example.COM", "password": PASSWORD, "next": "/account/profile/"}
    )
    assert response.status_code == 302 and response["Location"] == "/account/profile/"
    [member] = members(alpha)
    assert member.email == "ann.lee@example.com" and member.phone is None


def test_register_ignores_a_next_pointing_to_another_site(alpha: Any) -> None:
    response = shop_client(alpha).post(
        "/account/register/", {"email": "a@example.com", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/account/"


@pytest.mark.parametrize(
    ("data", "stored"),
    [
        ({"phone": "+86 139-0013-9000"}, ("13900139000", None)),
        ({"email": "BOB@example.com"}, (None, "bob@example.com")),
        ({"phone": "+4915123456789", "email": "eve@example.com"}, ("+4915123456789", "eve@example.com")),
    ],
)
def test_register_through_the_api_returns_a_working_token(
    alpha: Any, data: dict[str, str], stored: tuple[str | None, str | None]
) -> None:
    response = api_post(shop_client(alpha), "/api/v1/members/register/", {**data, "password": PASSWORD})
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["token"]) == 40
    assert (body["member"]["phone"], body["member"]["email"]) == stored
    me = shop_client(alpha).get("/api/v1/members/me/", **bearer(body["token"]))
    assert me.status_code == 200 and me.json()["id"] == body["member"]["id"]
    with in_shop(alpha):
        token = MemberToken.objects.get()
        assert token.key_hash != body["token"] and body["token"] not in token.key_hash  # only the hash is kept


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phone": "13800138000"}, "phone"),
        ({"phone": "+86 13800138000"}, "phone"),
        ({"email": "TAKEN@example.com"}, "email"),
        ({"phone": "13700137000", "email": "taken@EXAMPLE.com"}, "email"),
    ],
)
def test_a_taken_phone_or_email_is_a_field_error_and_writes_nothing(
    alpha: Any, data: dict[str, str], field: str
) -> None:
    make_member(alpha, phone="13800138000")
    make_member(alpha, email="taken@example.com")
    web = shop_client(alpha).post("/account/register/", {**data, "password": PASSWORD})
    assert web.status_code == 400 and 'id="err_' + field + '"' in web.content.decode()
    api = api_post(shop_client(alpha), "/api/v1/members/register/", {**data, "password": PASSWORD})
    assert api.status_code == 400 and list(api.json()) == [field]
    assert len(members(alpha)) == 2


def english(tenant: Any, **extra: Any) -> Any:
    client = shop_client(tenant, **extra)
    client.cookies["django_language"] = "en"
    return client


@pytest.mark.parametrize(
    ("password", "hint"),
    [("short1", "too short"), ("12345678901", "entirely numeric"), ("password123", "too common"), ("", "Choose a")],
)
def test_a_weak_password_is_refused(alpha: Any, password: str, hint: str) -> None:
    web = english(alpha).post("/account/register/", {"email": "weak@example.com", "password": password})
    assert web.status_code == 400 and 'id="err_password"' in web.content.decode() and hint in web.content.decode()
    api = api_post(english(alpha), "/api/v1/members/register/", {"email": "weak@example.com", "password": password})
    assert api.status_code == 400 and list(api.json()) == ["password"]
    assert hint in " ".join(api.json()["password"])
    assert members(alpha) == []


def test_a_password_like_the_email_is_refused(alpha: Any) -> None:
    api = api_post(
        shop_client(alpha),
        "/api/v1/members/register/",
        {"email": "sunshine.dragon@example.com", "password": "sunshine.dragon"},
    )
    assert api.status_code == 400 and "password" in api.json()


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"phone": "12345"}, {"phone"}),
        ({"phone": "12800138000"}, {"phone"}),  # no mainland mobile starts with 12
        ({"phone": "1380013800"}, {"phone"}),  # 10 digits
        ({"phone": "+1234567"}, {"phone"}),  # 7 digits after +
        ({"phone": "+1234567890123456"}, {"phone"}),  # 16 digits after +
        ({"phone": "138abc38000"}, {"phone"}),
        ({"email": "not-an-email"}, {"email"}),
        ({"email": "a@b"}, {"email"}),
        ({}, {"phone", "email"}),
        ({"phone": "", "email": "  "}, {"phone", "email"}),
        ({"phone": "13800138000", "name": "x" * 51}, {"name"}),
        ({"phone": "bad", "email": "bad", "name": "x" * 51}, {"phone", "email", "name"}),
    ],
)
def test_bad_phone_email_or_name_is_a_field_error(alpha: Any, data: dict[str, str], fields: set[str]) -> None:
    web = shop_client(alpha).post("/account/register/", {**data, "password": PASSWORD})
    assert web.status_code == 400
    page = web.content.decode()
    assert all(f'id="err_{f}"' in page for f in fields)
    api = api_post(shop_client(alpha), "/api/v1/members/register/", {**data, "password": PASSWORD})
    assert api.status_code == 400 and set(api.json()) == fields
    assert members(alpha) == []


def test_a_bad_device_name_is_refused_before_anything_is_written(alpha: Any) -> None:
    data = {"email": "dev@example.com", "password": PASSWORD, "device": "d" * 65}
    response = api_post(shop_client(alpha), "/api/v1/members/register/", data)
    assert response.status_code == 400 and list(response.json()) == ["device"]
    assert members(alpha) == []
    named = api_post(shop_client(alpha), "/api/v1/members/register/", {**data, "device": "iPhone 15"})
    assert named.status_code == 201
    with in_shop(alpha):
        assert MemberToken.objects.get().name == "iPhone 15"


def test_international_numbers_of_8_to_15_digits_are_accepted(alpha: Any) -> None:
    for phone in ("+85291234567", "+12025550123", "+123456789012345", "+12345678"):
        response = api_post(shop_client(alpha), "/api/v1/members/register/", {"phone": phone, "password": PASSWORD})
        assert response.status_code == 201, (phone, response.content)


# --- login and logout ---------------------------------------------------------------------


def test_web_login_with_the_wrong_password_shows_an_error(alpha: Any) -> None:
    make_member(alpha, phone="13800138000")
    client = shop_client(alpha)
    response = client.post("/account/login/", {"login": "13800138000", "password": "wrong-password-1"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="errors"' in page and 'value="13800138000"' in page
    assert client.get("/account/").status_code == 302  # still not logged in
    unknown = client.post("/account/login/", {"login": "13900000000", "password": PASSWORD})
    assert unknown.status_code == 400 and unknown.content.decode().count('class="errors"') == 1  # same message


@pytest.mark.parametrize("login", ["13800138000", "+86 138 0013 8000", "Mei@Example.com"])
def test_web_login_by_phone_or_email_starts_a_new_session(alpha: Any, login: str) -> None:
    make_member(alpha, phone="13800138000", email="mei@example.com", name="Mei")
    client = shop_client(alpha)
    client.get("/account/login/")
    before = client.cookies.get("sessionid")
    response = client.post("/account/login/", {"login": login, "password": PASSWORD, "next": "/account/addresses/new/"})
    assert response.status_code == 302 and response["Location"] == "/account/addresses/new/"
    assert client.cookies["sessionid"].value != (before.value if before else None)
    assert client.get("/account/").status_code == 200


def test_login_page_redirects_a_logged_in_member(alpha: Any) -> None:
    client = member_client(alpha, make_member(alpha))
    assert client.get("/account/login/")["Location"] == "/account/"
    assert client.get("/account/register/")["Location"] == "/account/"


def test_member_pages_send_anonymous_visitors_to_login_and_back(alpha: Any) -> None:
    client = shop_client(alpha)
    response = client.get("/account/")
    assert response.status_code == 302 and response["Location"] == "/account/login/?next=/account/"
    make_member(alpha, email="back@example.com")
    login = client.post("/account/login/", {"login": "back@example.com", "password": PASSWORD, "next": "/account/"})
    assert login["Location"] == "/account/"


def test_api_login_with_wrong_password_or_missing_fields(alpha: Any) -> None:
    make_member(alpha, email="api@example.com")
    wrong = api_post(
        shop_client(alpha), "/api/v1/members/login/", {"login": "api@example.com", "password": "nope-nope-1"}
    )
    assert wrong.status_code == 400 and list(wrong.json()) == ["non_field_errors"]
    assert "token" not in wrong.json()
    missing = api_post(shop_client(alpha), "/api/v1/members/login/", {})
    assert missing.status_code == 400 and set(missing.json()) == {"login", "password"}
    with in_shop(alpha):
        assert not MemberToken.objects.exists()


def test_api_login_token_works_and_logout_revokes_only_that_token(alpha: Any) -> None:
    make_member(alpha, phone="13800138000")
    first = api_token(alpha, "13800138000")
    second = api_token(alpha, "+8613800138000")
    assert first != second
    client = shop_client(alpha)
    assert client.get("/api/v1/members/me/", **bearer(first)).json()["phone"] == "13800138000"
    assert api_post(client, "/api/v1/members/logout/", token=first).status_code == 204
    refused = client.get("/api/v1/members/me/", **bearer(first))
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/members/me/", **bearer(second)).status_code == 200
    with in_shop(alpha):
        assert MemberToken.objects.count() == 1


def test_api_without_or_with_a_bad_token_is_401(alpha: Any) -> None:
    client = shop_client(alpha)
    assert client.get("/api/v1/members/me/").status_code == 401
    assert client.get("/api/v1/members/me/", HTTP_AUTHORIZATION="Bearer " + "0" * 40).status_code == 401
    assert client.get("/api/v1/members/me/", HTTP_AUTHORIZATION="Bearer a b").status_code == 401
    assert client.get("/api/v1/members/addresses/").status_code == 401


def test_web_logout_needs_post_and_ends_the_member_session(alpha: Any) -> None:
    client = member_client(alpha, make_member(alpha))
    assert client.get("/account/logout/").status_code == 405
    assert client.get("/account/").status_code == 200
    response = client.post("/account/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/account/").status_code == 302
    assert client.get("/api/v1/members/me/").status_code == 401


def test_the_storefront_session_also_authenticates_the_api_with_csrf(alpha: Any) -> None:
    member = make_member(alpha, email="csrf@example.com")
    client = member_client(alpha, member, enforce_csrf_checks=True)
    assert client.get("/api/v1/members/me/").json()["email"] == "csrf@example.com"
    refused = api_post(client, "/api/v1/members/addresses/", {"recipient": "x"})
    assert refused.status_code == 403  # session auth without the CSRF token


def test_a_disabled_member_cannot_log_in_and_loses_tokens_and_sessions(alpha: Any) -> None:
    from shop.members import services

    member = make_member(alpha, email="off@example.com")
    token = api_token(alpha, "off@example.com")
    client = member_client(alpha, member)
    with in_shop(alpha):
        services.member_set_active(member, False)
    assert shop_client(alpha).get("/api/v1/members/me/", **bearer(token)).status_code == 401
    assert client.get("/account/").status_code == 302
    again = api_post(shop_client(alpha), "/api/v1/members/login/", {"login": "off@example.com", "password": PASSWORD})
    assert again.status_code == 400 and "non_field_errors" in again.json()


def test_login_and_registration_send_member_logged_in(alpha: Any) -> None:
    received: list[tuple[Any, Any]] = []

    def receiver(sender: Any, request: Any, member: Member, **kwargs: Any) -> None:
        received.append((request.path, member.email))

    member_logged_in.connect(receiver)
    try:
        shop_client(alpha).post("/account/register/", {"email": "sig@example.com", "password": PASSWORD})
        shop_client(alpha).post("/account/login/", {"login": "sig@example.com", "password": PASSWORD})
        api_token(alpha, "sig@example.com")
        api_post(shop_client(alpha), "/api/v1/members/register/", {"email": "sig2@example.com", "password": PASSWORD})
        shop_client(alpha).post("/account/login/", {"login": "sig@example.com", "password": "wrong-pass-1"})
    finally:
        member_logged_in.disconnect(receiver)
    assert received == [
        ("/account/register/", "sig@example.com"),
        ("/account/login/", "sig@example.com"),
        ("/api/v1/members/login/", "sig@example.com"),
        ("/api/v1/members/register/", "sig2@example.com"),
    ]


# --- a member is not a console user, and a console user is not a member ------------------


def test_a_member_session_gives_no_console_access_and_staff_are_not_members(alpha: Any) -> None:
    client = member_client(alpha, make_member(alpha))
    assert client.get("/console/").status_code == 302
    assert client.get("/api/v1/console/staff/").status_code in (401, 403)
    owner = owner_client(alpha)
    assert owner.get("/account/").status_code == 302
    assert owner.get("/api/v1/members/me/").status_code == 401
    staff_login = shop_client(alpha).post("/account/login/", {"login": "owner@alpha.test", "password": PASSWORD})
    assert staff_login.status_code == 400


def test_a_member_token_is_not_a_console_token(alpha: Any) -> None:
    make_member(alpha, email="tok@example.com")
    token = api_token(alpha, "tok@example.com")
    client = shop_client(alpha)
    assert client.get("/api/v1/console/staff/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert client.get("/api/v1/console/staff/", **bearer(token)).status_code in (401, 403)


# --- profile and password -----------------------------------------------------------------


def test_profile_edit_on_the_web(alpha: Any) -> None:
    member = make_member(alpha, phone="13800138000", name="Old")
    client = member_client(alpha, member)
    form = client.get("/account/profile/").content.decode()
    assert 'value="Old"' in form
    saved = client.post("/account/profile/", {"name": "New", "phone": "13800138000", "email": ""})
    assert saved.status_code == 302
    assert "New" in client.get("/account/").content.decode()
    too_long = client.post("/account/profile/", {"name": "n" * 51, "phone": "13800138000"})
    assert too_long.status_code == 400 and 'id="err_name"' in too_long.content.decode()


def test_changing_phone_or_email_needs_the_current_password(alpha: Any) -> None:
    member = make_member(alpha, phone="13800138000")
    make_member(alpha, email="other@example.com")
    token = api_token(alpha, "13800138000")
    client = shop_client(alpha, **bearer(token))

    def patch(data: dict[str, str]) -> Any:
        return client.patch("/api/v1/members/me/", data=json.dumps(data), content_type="application/json")

    assert set(patch({"email": "me@example.com"}).json()) == {"current_password"}
    assert set(patch({"email": "me@example.com", "current_password": "wrong-one-1"}).json()) == {"current_password"}
    assert set(patch({"email": "OTHER@example.com", "current_password": PASSWORD}).json()) == {"email"}
    assert set(patch({"phone": "", "current_password": PASSWORD}).json()) == {"phone", "email"}
    ok = patch({"email": "Me@Example.com", "name": "Me", "current_password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["email"] == "me@example.com" and ok.json()["name"] == "Me"
    dropped = patch({"phone": "", "current_password": PASSWORD})
    assert dropped.status_code == 200 and dropped.json()["phone"] is None
    assert patch({"name": "Only name"}).status_code == 200  # no password needed
    with in_shop(alpha):
        member.refresh_from_db()
    assert (member.phone, member.email, member.name) == (None, "me@example.com", "Only name")
    assert api_token(alpha, "me@example.com")


def test_password_change_through_the_api_revokes_other_tokens(alpha: Any) -> None:
    make_member(alpha, email="pw@example.com")
    current = api_token(alpha, "pw@example.com")
    other = api_token(alpha, "pw@example.com")
    client = shop_client(alpha)
    bad = api_post(
        client, "/api/v1/members/me/password/", {"old_password": "nope-nope-1", "new_password": "123"}, current
    )
    assert bad.status_code == 400 and set(bad.json()) == {"old_password", "new_password"}
    new_password = "a-brand-new-passphrase-7"
    ok = api_post(
        client, "/api/v1/members/me/password/", {"old_password": PASSWORD, "new_password": new_password}, current
    )
    assert ok.status_code == 204
    assert client.get("/api/v1/members/me/", **bearer(current)).status_code == 200
    assert client.get("/api/v1/members/me/", **bearer(other)).status_code == 401
    old = api_post(client, "/api/v1/members/login/", {"login": "pw@example.com", "password": PASSWORD})
    assert old.status_code == 400
    assert api_token(alpha, "pw@example.com", new_password)


def test_password_change_on_the_web_keeps_this_session_and_ends_others(alpha: Any) -> None:
    member = make_member(alpha, email="web@example.com")
    this, other = member_client(alpha, member), member_client(alpha, member)
    assert 'name="new_password"' in this.get("/account/password/").content.decode()
    weak = this.post("/account/password/", {"old_password": PASSWORD, "new_password": "1234"})
    assert weak.status_code == 400 and 'id="err_new_password"' in weak.content.decode()
    response = this.post("/account/password/", {"old_password": PASSWORD, "new_password": "another-good-pass-8"})
    assert response.status_code == 302
    assert this.get("/account/").status_code == 200
    assert other.get("/account/").status_code == 302


def test_the_member_centre_shows_orders_as_a_placeholder(alpha: Any) -> None:
    page = member_client(alpha, make_member(alpha)).get("/account/").content.decode()
    assert 'id="orders"' in page and 'id="addresses"' in page


def test_the_openapi_schema_documents_the_members_api(alpha: Any) -> None:
    schema = shop_client(alpha).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    body = json.loads(schema.content)
    paths = body["paths"]
    for path in (
        "/api/v1/members/register/",
        "/api/v1/members/login/",
        "/api/v1/members/logout/",
        "/api/v1/members/me/",
        "/api/v1/members/me/password/",
        "/api/v1/members/addresses/",
        "/api/v1/members/addresses/{id}/",
        "/api/v1/members/addresses/{id}/default/",
    ):
        assert path in paths, path
    assert body["components"]["securitySchemes"]["memberToken"]["scheme"] == "bearer"
    assert "PaginatedAddressList" in json.dumps(paths["/api/v1/members/addresses/"]["get"])
    assert "memberSession" in body["components"]["securitySchemes"]
