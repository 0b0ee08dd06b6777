"""Finding 8: deactivating a staff member or changing a password revokes their API tokens
(before, an old token worked again after a reactivation), and staff change their own
password on a console page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from tests.conftest import PASSWORD, english, in_shop, login_client, owner_client, shop_client

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another-horse-staple-42"


def _clerk(tenant: Any) -> Any:
    with in_shop(tenant):
        return get_user_model().objects.create_user("clerk@beta.test", PASSWORD, name="Clerk", is_staff=True)


def _token(tenant: Any, email: str, password: str = PASSWORD) -> str:
    response = shop_client(tenant).post(
        "/api/v1/console/token/",
        data=json.dumps({"email": email, "password": password}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def _api(tenant: Any, token: str) -> int:
    return shop_client(tenant).get("/api/v1/console/shop/", HTTP_AUTHORIZATION=f"Token {token}").status_code


def test_a_deactivated_staff_members_token_never_works_again(beta: Any) -> None:
    clerk = _clerk(beta)
    token = _token(beta, "clerk@beta.test")
    assert _api(beta, token) == 200
    owner = owner_client(beta)
    assert owner.post(f"/console/staff/{clerk.pk}/", {"action": "deactivate"}).status_code == 302
    assert _api(beta, token) == 401
    assert owner.post(f"/console/staff/{clerk.pk}/", {"action": "activate"}).status_code == 302
    assert _api(beta, token) == 401  # the reported bug: the old token worked again here
    fresh = _token(beta, "clerk@beta.test")  # a new one must be asked for with the password
    assert fresh != token and _api(beta, fresh) == 200


def test_deactivation_through_the_api_revokes_too(beta: Any) -> None:
    clerk = _clerk(beta)
    token = _token(beta, "clerk@beta.test")
    owner_token = _token(beta, "owner@beta.test")
    patched = shop_client(beta).patch(
        f"/api/v1/console/staff/{clerk.pk}/",
        data=json.dumps({"is_active": False}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {owner_token}",
    )
    assert patched.status_code == 200, patched.content
    with in_shop(beta):
        assert not Token.objects.filter(user_id=clerk.pk).exists()
    assert _api(beta, token) == 401 and _api(beta, owner_token) == 200  # only that person's


def test_changing_the_password_on_the_console_page_revokes_tokens_and_keeps_this_session(beta: Any) -> None:
    _clerk(beta)
    token = _token(beta, "clerk@beta.test")
    client = login_client(beta, "clerk@beta.test")
    elsewhere = login_client(beta, "clerk@beta.test")
    page = client.get("/console/password/")
    assert page.status_code == 200 and "修改密码" in page.content.decode()
    done = client.post(
        "/console/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302 and done["Location"] == "/console/password/"
    assert _api(beta, token) == 401
    assert client.get("/console/").status_code == 200  # this session stays
    assert elsewhere.get("/console/").status_code == 302  # other sessions end
    login = shop_client(beta).post("/console/login/", {"username": "clerk@beta.test", "password": NEW_PASSWORD})
    assert login.status_code == 302
    assert _api(beta, _token(beta, "clerk@beta.test", NEW_PASSWORD)) == 200


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"old_password": "wrong-password-1", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
            "old_password",
        ),
        (
            {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"},
            "new_password2",
        ),
        ({"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"}, "new_password2"),
        ({"old_password": PASSWORD, "new_password1": "", "new_password2": ""}, "new_password1"),
    ],
)
def test_bad_password_change_is_a_field_error_and_changes_nothing(beta: Any, data: dict[str, str], field: str) -> None:
    _clerk(beta)
    token = _token(beta, "clerk@beta.test")
    response = english(login_client(beta, "clerk@beta.test")).post("/console/password/", data)
    assert response.status_code == 400
    assert f'id="errors-{field}"' in response.content.decode()
    assert _api(beta, token) == 200
    with in_shop(beta):
        assert get_user_model().objects.get(email="clerk@beta.test").check_password(PASSWORD)


def test_a_hash_upgrade_at_login_keeps_the_tokens(beta: Any, settings: Any) -> None:
    """Same password, new hasher: not a password change."""
    settings.PASSWORD_HASHERS = [*settings.PASSWORD_HASHERS, "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    clerk = _clerk(beta)
    token = _token(beta, "clerk@beta.test")
    with in_shop(beta):
        from django.contrib.auth.hashers import make_password

        get_user_model().objects.filter(pk=clerk.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    assert _token(beta, "clerk@beta.test") == token  # logging in upgraded the hash
    with in_shop(beta):
        assert not get_user_model().objects.get(pk=clerk.pk).password.startswith("pbkdf2_sha256")
    assert _api(beta, token) == 200


def test_anonymous_visitors_cannot_open_the_password_page(beta: Any) -> None:
    response = shop_client(beta).get("/console/password/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def test_a_password_change_on_one_shop_leaves_the_same_email_on_another_alone(alpha: Any, beta: Any) -> None:
    with in_shop(alpha):
        get_user_model().objects.create_user("clerk@beta.test", PASSWORD, is_staff=True)
    alpha_token = _token(alpha, "clerk@beta.test")
    _clerk(beta)
    client = login_client(beta, "clerk@beta.test")
    client.post(
        "/console/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert _api(alpha, alpha_token) == 200
