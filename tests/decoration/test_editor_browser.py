"""A merchant decorates the home page in the console editor (headless Chromium): adds a
banner (image uploaded from the computer) and a product grid, reorders them by dragging
and with the arrow buttons, sees a field error next to the field, saves and publishes;
the public page API then serves both blocks with the products resolved."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import translation
from PIL import Image

from tests.browser.conftest import CHROMIUM_ARGS, LiveSite, orm
from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

SLUG = "deco-browser"


def shop_text(message: str) -> str:
    from django.conf import settings

    with translation.override(settings.LANGUAGE_CODE):
        return str(translation.gettext(message))


@pytest.fixture
def desktop(chromium: str, live_site: LiveSite) -> Iterator[Page]:
    """A desktop-sized page (merchants decorate on a computer); JavaScript errors fail."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda dialog: dialog.accept())
            yield page
            context.close()
        finally:
            browser.close()
    assert not errors, f"JavaScript errors: {errors}"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "orange").save(buffer, "PNG")
    return buffer.getvalue()


def _open_shop(live_db: list[str]) -> list[int]:
    def run() -> list[int]:
        from django_tenants.utils import schema_context

        from shop.catalogue import services
        from tenants.services import shop_signup

        tenant = shop_signup(
            name="装修小店", slug=SLUG, email=f"owner@{SLUG}.test", password=PASSWORD, tier="standard"
        ).tenant
        ids = []
        with schema_context(tenant.schema_name):
            for name in ("绿茶", "乌龙"):
                product = services.product_save(
                    tenant, {"name": name, "skus": [{"spec": {}, "price": 2900, "stock": 3}]}
                )
                services.product_set_status([product], "on_sale")
                ids.append(product.pk)
        return ids

    live_db.append(SLUG)
    return orm(run)


def test_merchant_decorates_and_publishes_the_home_page(
    desktop: Page, live_site: LiveSite, live_db: list[str], screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page = desktop
    product_ids = _open_shop(live_db)
    page.goto(live_site.url("/console/login/", shop=SLUG))
    page.get_by_label(shop_text("Email")).fill(f"owner@{SLUG}.test")
    page.get_by_label(shop_text("Password")).fill(PASSWORD)
    page.get_by_role("button", name=shop_text("Log in"), exact=True).click()
    page.wait_for_url(live_site.url("/console/", shop=SLUG))

    page.locator("header.top nav").get_by_role("link", name=shop_text("Pages")).click()
    page.wait_for_url(live_site.url("/console/pages/", shop=SLUG))
    page.locator('tr[data-slug="home"] a.button').click()
    expect(page.locator("body")).to_have_attribute("data-editor-ready", "1")
    expect(page.locator("#deco-preview")).to_have_attribute("src", "/?preview=draft")

    # a banner with one slide whose image is uploaded from the computer
    page.locator('#deco-palette [data-type="banner"]').click()
    page.locator('#deco-form [data-add="slides"]').click()
    from playwright.sync_api import FilePayload

    banner: FilePayload = {"name": "banner.png", "mimeType": "image/png", "buffer": _png()}
    page.locator('#deco-form input[type="file"]').set_input_files(files=[banner])
    image_url = page.locator('#deco-form input[data-path="blocks[0].config.slides[0].image"]')
    expect(image_url).to_have_value(re.compile(r"^/media/shop_deco_browser/decoration/\w+\.png$"))
    uploaded = image_url.input_value()
    link = page.locator('#deco-form [data-field="link"]')
    link.locator("select").select_option("search")
    link.locator("input").fill("春茶")

    # a product grid of the newest products, added after the banner
    page.locator('#deco-palette [data-type="product_grid"]').click()
    blocks = page.locator("#deco-blocks > li")
    expect(blocks).to_have_count(2)
    expect(blocks.nth(1)).to_have_attribute("data-type", "product_grid")
    page.locator('#deco-form [data-field="title"] input').fill("本周精选")
    limit = page.locator('#deco-form [data-field="limit"] input')
    limit.fill("25")

    # drag the grid above the banner, then put the banner back on top with its arrow
    blocks.nth(1).drag_to(blocks.nth(0))
    expect(blocks.nth(0)).to_have_attribute("data-type", "product_grid")
    blocks.nth(1).get_by_role("button", name=shop_text("Move up")).click()
    expect(blocks.nth(0)).to_have_attribute("data-type", "banner")

    # the server refuses 25 products: the message is shown next to the field
    page.locator("#deco-save").click()
    expect(blocks.nth(1)).to_have_class("selected invalid")
    expect(page.locator('#deco-form [data-field="limit"] .errors')).to_be_visible()
    expect(page.locator("#deco-form")).not_to_contain_text("null")
    page.locator('#deco-form [data-field="limit"] input').fill("4")
    page.locator("#deco-save").click()
    expect(page.locator("#deco-status")).to_have_text(shop_text("Draft saved."))
    expect(page.locator("#deco-blocks > li.invalid")).to_have_count(0)
    # the preview (the storefront rendering the saved draft for console staff) shows the grid
    expect(page.frame_locator("#deco-preview").locator("body")).to_contain_text("本周精选")

    page.locator("#deco-publish").click()
    expect(page.locator("#deco-versions > li")).to_have_count(1)
    page.screenshot(path=str(screenshots / "decoration-editor.png"), full_page=True)

    # what a mini-program (or anyone) gets from the public page API now
    body: Any = page.evaluate("() => fetch('/api/v1/pages/home/', {credentials: 'omit'}).then((r) => r.json())")
    assert [b["type"] for b in body["blocks"]] == ["banner", "product_grid"]
    assert body["blocks"][0]["config"]["slides"][0]["image"] == uploaded
    assert body["blocks"][0]["config"]["slides"][0]["link"] == {"type": "search", "q": "春茶"}
    assert body["blocks"][0]["data"]["slides"][0]["href"] == "/products/?q=%E6%98%A5%E8%8C%B6"
    assert {p["id"] for p in body["blocks"][1]["data"]["products"]} == set(product_ids)
    assert body["blocks"][1]["config"]["limit"] == 4 and body["blocks"][1]["config"]["title"] == "本周精选"
