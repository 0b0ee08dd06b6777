"""Members made through the services, and clients logged in as them."""

from __future__ import annotations

import json
import os
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from tests.conftest import PASSWORD, in_shop, shop_client

ADDRESS: dict[str, Any] = {
    "recipient": "张三",
    "phone": "13800138000",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "detail": "科技园路 1 号 2 栋 301",
    "postal_code": "518000",
}


def make_member(tenant: Any, *, phone: str = "", email: str = "", name: str = "", password: str = PASSWORD) -> Any:
    from shop.members import services

    if not phone and not email:
        email = f"shopper-{os.urandom(4).hex()}@example.com"
    with in_shop(tenant):
        return services.member_register(phone=phone, email=email, name=name, password=password)


def make_address(tenant: Any, member: Any, **overrides: Any) -> Any:
    from shop.members import services

    with in_shop(tenant):
        return services.address_create(member, **{**ADDRESS, **overrides})


def member_client(tenant: Any, member: Any, **extra: Any) -> Client:
    """A client of ``tenant``'s host with a storefront session of ``member`` (stored in the
    shop's schema, as a real login would), without spending the login rate limit."""
    from shop.members.auth import SESSION_HASH_KEY, SESSION_KEY, session_hash

    client = shop_client(tenant, **extra)
    with in_shop(tenant):
        session = SessionStore()
        session[SESSION_KEY] = member.pk
        session[SESSION_HASH_KEY] = session_hash(member)
        session.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key or ""
    return client


def api_post(client: Client, url: str, data: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers: dict[str, Any] = bearer(token) if token else {}
    return client.post(url, data=json.dumps(data or {}), content_type="application/json", **headers)


def api_token(tenant: Any, login: str, password: str = PASSWORD, **extra: Any) -> str:
    response = api_post(shop_client(tenant, **extra), "/api/v1/members/login/", {"login": login, "password": password})
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
