"""Template code is owner-level power (issue 12, finding 2): only the owner, or staff the
owner grants "theme code" on the staff page, may edit or publish it — in the console and
through the API; templates never see the CSP nonce; ``safe`` lets only sanitised HTML out."""

from __future__ import annotations

import re
from typing import Any

from django_tenants.utils import schema_context

from tests.conftest import PASSWORD, english, in_shop, login_client, owner_client, shop_client

LAYOUT = "<html><body class='brand-layout'>{{ content_for_layout }}</body></html>"


def _staff(tenant: Any, email: str = "clerk@sandbox.test") -> Any:
    from shop import staff

    with in_shop(tenant):
        return staff.staff_add(tenant, email=email, name="Clerk", password=PASSWORD)


def _api(tenant: Any, email: str | None = None) -> Any:
    from rest_framework.test import APIClient

    from tests.conftest import host_of

    client = APIClient(HTTP_HOST=host_of(tenant))
    with schema_context(tenant.schema_name):
        from django.contrib.auth import get_user_model

        users = get_user_model().objects
        client.force_authenticate(users.get(email=email) if email else users.get(is_owner=True))
    return client


def test_staff_edit_theme_code_only_when_the_owner_allows(custom_shop: Any) -> None:
    from shop.storefront.models import TemplateOverride

    clerk = _staff(custom_shop)
    staff_page = english(login_client(custom_shop, clerk.email))
    # not granted: the editor, its actions and the API are refused; nothing is written
    locked = staff_page.get("/console/theme/code/")
    assert locked.status_code == 403 and 'id="code-forbidden"' in locked.content.decode()
    refused = staff_page.post("/console/theme/code/", {"action": "save", "name": "layout/theme", "source": LAYOUT})
    assert refused.status_code == 403
    assert "edit-code" not in staff_page.get("/console/theme/").content.decode()
    api = _api(custom_shop, clerk.email)
    assert api.post("/api/v1/console/theme/code/", {"name": "layout/theme", "source": LAYOUT}).status_code == 403
    assert api.post("/api/v1/console/theme/code/publish/", {"name": "layout/theme"}).status_code == 403
    with in_shop(custom_shop):
        assert not TemplateOverride.objects.exists()
    # staff cannot grant themselves, on the page or through the API
    assert staff_page.post(f"/console/staff/{clerk.pk}/", {"action": "theme_code", "allowed": "1"}).status_code == 403
    assert api.patch(f"/api/v1/console/staff/{clerk.pk}/", {"can_edit_theme_code": True}).status_code == 403
    assert staff_page.get("/console/theme/code/").status_code == 403

    # the owner ticks "theme code" for the clerk on the staff page
    owner = english(owner_client(custom_shop))
    listing = owner.get("/console/staff/").content.decode()
    assert f'data-grant="{clerk.email}"' in listing
    assert owner.post(f"/console/staff/{clerk.pk}/", {"action": "theme_code", "allowed": "1"}).status_code == 302
    assert re.search(rf'checked data-grant="{re.escape(clerk.email)}"', owner.get("/console/staff/").content.decode())
    assert staff_page.get("/console/theme/code/").status_code == 200
    assert "edit-code" in staff_page.get("/console/theme/").content.decode()
    saved = api.post("/api/v1/console/theme/code/", {"name": "layout/theme", "source": LAYOUT})
    assert saved.status_code == 200 and saved.json()["problem"] is None
    published = api.post("/api/v1/console/theme/code/publish/", {"name": "layout/theme"})
    assert published.status_code == 200 and published.json()["published"] is True
    assert "brand-layout" in shop_client(custom_shop).get("/products/").content.decode()
    listed = _api(custom_shop).get("/api/v1/console/staff/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert {r["email"]: r["can_edit_theme_code"] for r in rows}[clerk.email] is True

    # the owner takes it back through the API: refused again
    assert (
        _api(custom_shop).patch(f"/api/v1/console/staff/{clerk.pk}/", {"can_edit_theme_code": False}).status_code == 200
    )
    with in_shop(custom_shop):  # a form-encoded PATCH of one field leaves the others alone
        clerk.refresh_from_db()
        assert clerk.is_active
    assert (
        _api(custom_shop).patch(f"/api/v1/console/staff/{clerk.pk}/", {"name": "Clerk"}, format="json").status_code
        == 200
    )
    assert staff_page.get("/console/theme/code/").status_code == 403
    assert api.post("/api/v1/console/theme/code/publish/", {"name": "layout/theme"}).status_code == 403
    # a bad draft through the API is a 400 with file and line, nothing published
    bad = _api(custom_shop).post(
        "/api/v1/console/theme/code/", {"name": "layout/theme", "source": "ok\n{{ x | nosuch }}"}
    )
    assert bad.status_code == 400 and bad.json()["problem"]["line"] == 2
    unknown = _api(custom_shop).post("/api/v1/console/theme/code/", {"name": "../etc/passwd", "source": "x"})
    assert unknown.status_code == 400 and "name" in unknown.json()


def test_the_owner_keeps_theme_code_and_other_tiers_have_none(custom_shop: Any, alpha: Any) -> None:
    owner = owner_client(custom_shop)
    assert owner.get("/console/theme/code/").status_code == 200
    assert _api(alpha).post("/api/v1/console/theme/code/", {"name": "layout/theme", "source": "x"}).status_code == 403
    assert owner_client(alpha).get("/console/theme/code/").status_code == 403


def test_templates_never_receive_the_csp_nonce(custom_shop: Any) -> None:
    """The issue's reproduction: a layout printing the nonce into its own script tag."""
    from shop.storefront import services

    source = '<html><body class="brand-layout"><script nonce="{{ csp_nonce }}">alert(document.cookie)</script>{{ content_for_layout }}</body></html>'
    with in_shop(custom_shop):
        _row, problem = services.override_save_draft(custom_shop, "layout/theme", source)
        assert problem is None
        services.override_publish(custom_shop, "layout/theme", actor="test")
    response = shop_client(custom_shop).get("/products/")
    html = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce is not None and "brand-layout" in html
    assert nonce.group(1) not in html and '<script nonce="">' in html


def test_safe_lets_only_sanitised_html_through(custom_shop: Any) -> None:
    from shop.storefront import services

    layout = "<html><body class='brand-layout'><div id='q'>{{ request.q | safe }}</div>{{ content_for_layout }}</body></html>"
    with in_shop(custom_shop):
        _row, problem = services.override_save_draft(custom_shop, "layout/theme", layout)
        assert problem is None
        services.override_publish(custom_shop, "layout/theme", actor="test")
    q = '<script>alert(1)</script><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a><b>ok</b>'
    html = shop_client(custom_shop).get("/products/", {"q": q}).content.decode()
    reflected = html.split("<div id='q'>", 1)[1].split("</div>", 1)[0]
    assert "<script" not in reflected and "onerror" not in reflected and "javascript:" not in reflected
    assert "<b>ok</b>" in reflected
