"""Theme code is the owner's unless granted (issue 12, finding 2), in headless Chromium: a
staff member of a custom-tier shop opens the code editor and is turned away; the owner
ticks "theme code" for them on the staff page; the staff member's editor opens, they save
and publish a template, and the storefront shows it. Screenshots: BROWSER_SCREENSHOTS
(tests/browser/conftest.py), e.g. /work/shots/sandbox/."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.browser.conftest import LiveSite, orm
from tests.browser.test_themes_flow import Browsers, Shop, browsers, log_in, open_shop, shop_text  # noqa: F401
from tests.conftest import PASSWORD

CLERK = "clerk@code-perm.test"


def _shots() -> Path:
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or "/tmp/shots-theme-code")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_owner_grants_theme_code_to_a_staff_member_on_the_staff_page(
    browsers: Browsers,  # noqa: F811 (the fixture imported above)
    live_site: LiveSite,
    open_shop: Callable[..., Shop],  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    shop = open_shop("code-perm", "custom", ["明前龙井"])

    def add_clerk() -> None:
        from django_tenants.utils import schema_context

        from shop import staff
        from tenants.models import Tenant

        tenant = Tenant.objects.get(slug=shop.slug)
        with schema_context(tenant.schema_name):
            staff.staff_add(tenant, email=CLERK, name="小王", password=PASSWORD)

    orm(add_clerk)
    owner = browsers.merchant
    browser = owner.context.browser
    assert browser is not None
    desk = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")  # the clerk's own computer
    desk.set_default_timeout(15_000)
    clerk = desk.new_page()
    shots = _shots()

    # the clerk logs in and is turned away from the code editor
    log_in(clerk, live_site, Shop(slug=shop.slug, email=CLERK, schema=shop.schema, products={}))
    response = clerk.goto(live_site.url("/console/theme/code/", shop=shop.slug))
    assert response is not None and response.status == 403
    expect(clerk.locator("#code-forbidden")).to_be_visible()
    clerk.screenshot(path=str(shots / "theme-code-1-staff-refused.png"), full_page=True)

    # the owner ticks "theme code" for the clerk on the staff page and saves
    log_in(owner, live_site, shop)
    owner.goto(live_site.url("/console/staff/", shop=shop.slug))
    box = owner.locator(f'input[data-grant="{CLERK}"]')
    expect(box).not_to_be_checked()
    owner.screenshot(path=str(shots / "theme-code-2-staff-page.png"), full_page=True)
    box.check()
    box.locator("xpath=ancestor::form").get_by_role("button", name=shop_text("Save")).click()
    owner.wait_for_url(live_site.url("/console/staff/", shop=shop.slug))
    expect(owner.locator(f'input[data-grant="{CLERK}"]')).to_be_checked()
    owner.screenshot(path=str(shots / "theme-code-3-granted.png"), full_page=True)

    # now the clerk's editor opens; they save and publish the product template
    clerk.goto(live_site.url("/console/theme/code/?name=templates/product", shop=shop.slug))
    code = clerk.locator("textarea.code")
    expect(code).to_be_visible()
    code.fill("<h1 class='brand-own'>{{ product.name }}</h1>")
    clerk.get_by_role("button", name=shop_text("Save draft")).click()
    clerk.locator("#publish-override").click()
    clerk.wait_for_load_state()
    clerk.screenshot(path=str(shots / "theme-code-4-staff-published.png"), full_page=True)
    product = clerk.goto(live_site.url(f"/products/{shop.products['明前龙井']}/", shop=shop.slug))
    assert product is not None and "brand-own" in product.text()

    # the owner unticks it: the clerk is turned away again
    owner.goto(live_site.url("/console/staff/", shop=shop.slug))
    box = owner.locator(f'input[data-grant="{CLERK}"]')
    box.uncheck()
    box.locator("xpath=ancestor::form").get_by_role("button", name=shop_text("Save")).click()
    owner.wait_for_url(live_site.url("/console/staff/", shop=shop.slug))
    expect(owner.locator(f'input[data-grant="{CLERK}"]')).not_to_be_checked()
    again = clerk.goto(live_site.url("/console/theme/code/", shop=shop.slug))
    assert again is not None and again.status == 403
    desk.close()
