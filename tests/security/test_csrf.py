"""CSRF on every form (issue 12, "Deliver as well"), generated from the URL confs so a new page
is covered the day it is added:

* every HTML view of the shop hosts (console and storefront) and of the platform host (signup,
  operator console) refuses a POST without the CSRF token, for a logged-in victim, with 403;
* views exempt from Django's check are an explicit list, each with the reason it is safe;
* every API view that accepts a session (SessionAuthentication) refuses a session-authenticated
  POST without the token (DRF's own check); token-authenticated calls need none;
* every template form that posts carries ``{% csrf_token %}``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from rest_framework.authentication import SessionAuthentication

from tests import operators
from tests.conftest import PASSWORD, in_shop, login_client, platform_client

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]

# Exempt from Django's CSRF middleware, and why that is safe.
EXEMPT = {
    "platform_core.urls_tenant": {
        # posted from the platform's origin by the signup page; checks Origin itself and the
        # one-time token (tenants/views.py HandoffView; tests/test_signup.py)
        "console/handoff/",
    },
    "platform_core.urls_public": {
        "billing/stripe/webhook/",  # Stripe-signed (timestamped HMAC), no cookies
        "payments/stripe/webhook/",  # Stripe-signed (timestamped HMAC), no cookies
    },
}
_SAMPLE = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": str(uuid.UUID(int=1))}


def _walk(patterns: list[Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], URLPattern]]:
    for item in patterns:
        if isinstance(item, URLResolver):
            yield from _walk(item.url_patterns, (*prefix, item.pattern))
        else:
            yield (*prefix, item.pattern), item


def _concrete(pieces: tuple[Any, ...]) -> str | None:
    """A path matching the pattern pieces (``<int:pk>`` → 1, a regex group → 1); None for a
    regular expression that cannot be filled in simply (the admin's catch-all)."""
    path = ""
    for piece in pieces:
        if isinstance(piece, RegexPattern):
            text = re.sub(r"\(\?P<\w+>[^)]*\)", "1", str(piece)).lstrip("^")
            text = re.sub(r"(\$|\\Z)$", "", text).replace("\\.", ".").replace("\\", "")
            if any(ch in text for ch in "()[]*+?|^$"):
                return None
            path += text
        else:
            path += re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLE.get(m.group(1) or "str", "x"), str(piece))
    return "/" + path


def _is_api(view: Any) -> bool:
    return hasattr(view, "cls")  # DRF's APIView.as_view() / ViewSet.as_view()


def _views(urlconf: str) -> list[tuple[str, str, Any]]:
    """(route, concrete path, callback) of every URL of ``urlconf``."""
    found = []
    for pieces, pattern in _walk(get_resolver(urlconf).url_patterns):
        path = _concrete(pieces)
        if path is not None:
            found.append(("".join(str(p) for p in pieces), path, pattern.callback))
    return found


@pytest.mark.parametrize("urlconf", sorted(EXEMPT))
def test_only_the_listed_views_are_exempt_from_csrf(urlconf: str) -> None:
    exempt = {
        route for route, _path, view in _views(urlconf) if getattr(view, "csrf_exempt", False) and not _is_api(view)
    }
    assert exempt == EXEMPT[urlconf]


def _refused_by_csrf(response: Any) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


def test_every_html_view_of_a_shop_host_refuses_a_post_without_the_token(beta: Any) -> None:
    client = login_client(beta)  # the owner, logged in: the victim a forged form would use
    client.handler.enforce_csrf_checks = True
    checked, not_refused = 0, []
    for route, path, view in _views("platform_core.urls_tenant"):
        if _is_api(view) or route in EXEMPT["platform_core.urls_tenant"]:
            continue
        response = client.post(path, {"action": "remove", "name": "x", "email": "x@x.test"})
        checked += 1
        if not _refused_by_csrf(response):
            not_refused.append((route, response.status_code))
    assert not not_refused
    assert checked >= 60  # console and storefront pages (a collapse of the walk would show here)


def test_every_html_view_of_the_platform_host_refuses_a_post_without_the_token() -> None:
    operator = get_user_model().objects.create_superuser("csrf-op@fenxiao.test", PASSWORD)
    client = operators.sign_in(Client(HTTP_HOST="localhost", enforce_csrf_checks=True), operator)
    checked, not_refused = 0, []
    for route, path, view in _views("platform_core.urls_public"):
        if _is_api(view) or route in EXEMPT["platform_core.urls_public"]:
            continue
        response = client.post(path, {"post": "yes", "action": "delete_selected"})
        checked += 1
        if not _refused_by_csrf(response):
            not_refused.append((route, response.status_code))
    assert not not_refused
    assert checked >= 20  # signup, the operator console's pages


def test_the_token_makes_the_same_post_go_through(beta: Any) -> None:
    """The control: what refuses above is the missing token, nothing else."""
    client = platform_client(enforce_csrf_checks=True)
    page = client.get("/signup/")
    token = client.cookies["csrftoken"].value
    assert page.status_code == 200
    answer = client.post(
        "/signup/", {"csrfmiddlewaretoken": token, "name": "", "slug": "", "email": "", "password": ""}
    )
    assert answer.status_code == 400  # the form's own field errors, not a CSRF refusal
    assert not _refused_by_csrf(answer)


def _owner_and_shopper(tenant: Any) -> Client:
    """A browser in which the owner is logged in to the console and a shopper to the storefront
    (both sessions a forged request would ride on)."""
    from shop.members.auth import SESSION_HASH_KEY, SESSION_KEY, session_hash
    from tests.members.factories import make_member

    client = login_client(tenant)
    member = make_member(tenant)
    with in_shop(tenant):
        session = client.session
        session[SESSION_KEY] = member.pk
        session[SESSION_HASH_KEY] = session_hash(member)
        session.save()
    client.handler.enforce_csrf_checks = True
    return client


def test_every_api_view_that_takes_a_session_refuses_a_post_without_the_token(beta: Any) -> None:
    client = _owner_and_shopper(beta)
    checked, not_refused = 0, []
    for route, path, view in _views("platform_core.urls_tenant"):
        if not _is_api(view):
            continue
        classes = getattr(view.cls, "authentication_classes", [])
        if not any(issubclass(c, SessionAuthentication) for c in classes):
            continue
        actions = getattr(view, "actions", None)
        unsafe = ("post", "put", "patch", "delete")
        methods = {m for m in actions if m in unsafe} if actions else {m for m in unsafe if hasattr(view.cls, m)}
        for method in sorted(methods):
            response = getattr(client, method)(path, data="{}", content_type="application/json")
            checked += 1
            body = response.content.decode(errors="replace")
            if not (response.status_code == 403 and "CSRF" in body):
                not_refused.append((route, method, response.status_code))
    assert not not_refused
    assert checked >= 50


def test_every_form_that_posts_carries_the_token() -> None:
    missing = []
    for template in sorted(REPO.glob("**/templates/**/*.html")):
        if ".venv" in template.parts:
            continue
        html = template.read_text(encoding="utf-8")
        for form in re.finditer(r"<form\b[^>]*>(.*?)</form>", html, re.IGNORECASE | re.DOTALL):
            opening = form.group(0)[: form.group(0).index(">") + 1]
            if re.search(r"method\s*=\s*[\"']?post", opening, re.IGNORECASE) and "csrf_token" not in form.group(0):
                missing.append(f"{template.relative_to(REPO)}: {opening[:80]}")
    assert not missing
