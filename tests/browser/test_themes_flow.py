"""Themes end to end in headless Chromium: the merchant works in the console at desktop
size, a shopper looks at the storefront on a phone (390x844, a phone's user agent).

* Decoration: the home page gets a banner (image uploaded from the computer) and a
  product grid in the editor at /console/pages/home/, the preview shows the saved draft
  (shoppers do not), publish, and the shopper sees the banner and the grid's products.
* Theme switch: choosing "minimal" in /console/theme/ changes the preview only; once
  published the shopper's product page is minimal's, no longer allround's.
* Overrides (custom tier): templates/product saved and published in /console/theme/code/
  changes the product page; an override that breaks on live data (put in the database as
  published) leaves the product page working, from the theme's own template, and the
  console lists the failure.

Browser and live server come from tests/browser/conftest.py: without Chromium the tests
are skipped, and fail under CI=true."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.utils import translation

from tests.browser.conftest import CHROMIUM_ARGS, PHONE, LiveSite, orm
from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

# Safari on an iPhone: what a shopper opening a shared link most often is.
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def shop_text(message: str) -> str:
    """``message`` as the console shows it: in the shop's language (the platform default)."""
    from django.conf import settings

    with translation.override(settings.LANGUAGE_CODE):
        return str(translation.gettext(message))


@dataclass
class Browsers:
    merchant: Page  # desktop size, logs in to the console
    shopper: Page  # phone size and user agent, never logged in


@pytest.fixture
def browsers(chromium: str, live_site: LiveSite) -> Iterator[Browsers]:
    """A merchant's desktop page and a shopper's phone page in separate browser contexts
    (separate cookies). Dialogs are accepted; JavaScript errors on any page fail the test."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []

    def watch(context: BrowserContext) -> Page:
        context.set_default_timeout(15_000)
        context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}")))
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            desk = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
            phone = browser.new_context(**PHONE, user_agent=PHONE_UA)
            yield Browsers(merchant=watch(desk), shopper=watch(phone))
            desk.close()
            phone.close()
        finally:
            browser.close()
    assert not errors, f"JavaScript errors: {errors}"


@dataclass
class Shop:
    slug: str
    email: str
    schema: str
    products: dict[str, int]  # name -> id


@pytest.fixture
def open_shop(live_db: list[str]) -> Iterator[Callable[..., Shop]]:
    """``open_shop(slug, tier, [names])`` signs up a shop with those products on sale.
    The shops go with ``live_db``; their uploaded media here."""
    from django.conf import settings

    opened: list[Shop] = []

    def open_(slug: str, tier: str, names: list[str]) -> Shop:
        email = f"owner@{slug}.test"

        def run() -> Shop:
            from django_tenants.utils import schema_context

            from shop.catalogue import services
            from tenants.services import shop_signup

            tenant = shop_signup(name="小鹿茶铺", slug=slug, email=email, password=PASSWORD, tier=tier).tenant
            ids = {}
            with schema_context(tenant.schema_name):
                for n, name in enumerate(names):
                    made = services.product_save(
                        tenant, {"name": name, "skus": [{"spec": {}, "price": 2900 + 100 * n, "stock": 5}]}
                    )
                    services.product_set_status([made], "on_sale")
                    ids[name] = made.pk
            return Shop(slug=slug, email=email, schema=tenant.schema_name, products=ids)

        live_db.append(slug)
        shop = orm(run)
        opened.append(shop)
        return shop

    yield open_
    for shop in opened:
        shutil.rmtree(Path(settings.MEDIA_ROOT) / shop.schema, ignore_errors=True)


def log_in(page: Page, site: LiveSite, shop: Shop) -> None:
    page.goto(site.url("/console/login/", shop=shop.slug))
    page.get_by_label(shop_text("Email")).fill(shop.email)
    page.get_by_label(shop_text("Password")).fill(PASSWORD)
    page.get_by_role("button", name=shop_text("Log in"), exact=True).click()
    page.wait_for_url(site.url("/console/", shop=shop.slug))


def visit(page: Page, url: str) -> str:
    """Open ``url``: it must answer 200; its HTML."""
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    return response.text()


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (320, 140), "orange").save(buffer, "PNG")
    return buffer.getvalue()


def test_merchant_decorates_the_home_page_and_a_shopper_sees_it_on_a_phone(
    browsers: Browsers, live_site: LiveSite, open_shop: Callable[..., Shop]
) -> None:
    from playwright.sync_api import FilePayload, expect

    names = ["明前龙井", "冻顶乌龙", "白毫银针"]
    shop = open_shop("theme-deco", "standard", names)
    page, shopper = browsers.merchant, browsers.shopper
    home = live_site.url("/", shop=shop.slug)
    assert "iPhone" in shopper.evaluate("navigator.userAgent")

    log_in(page, live_site, shop)
    page.goto(live_site.url("/console/pages/home/", shop=shop.slug))
    expect(page.locator("body")).to_have_attribute("data-editor-ready", "1")

    # a banner: add it from the palette, one slide, its image uploaded from the computer
    page.locator('#deco-palette [data-type="banner"]').click()
    page.locator('#deco-form [data-add="slides"]').click()
    banner: FilePayload = {"name": "banner.png", "mimeType": "image/png", "buffer": _png()}
    page.locator('#deco-form input[type="file"]').set_input_files(files=[banner])
    image = page.locator('#deco-form input[data-path="blocks[0].config.slides[0].image"]')
    expect(image).to_have_value(re.compile(rf"^/media/{shop.schema}/decoration/\w+\.png$"))
    uploaded = image.input_value()
    assert uploaded.startswith(f"/media/{shop.schema}/decoration/") and uploaded.endswith(".png")
    page.locator('#deco-form [data-field="alt"] input').fill("春茶上新")

    # a product grid of the newest products, after the banner
    page.locator('#deco-palette [data-type="product_grid"]').click()
    blocks = page.locator("#deco-blocks > li")
    expect(blocks).to_have_count(2)
    expect(blocks.nth(0)).to_have_attribute("data-type", "banner")
    expect(blocks.nth(1)).to_have_attribute("data-type", "product_grid")
    page.locator('#deco-form [data-field="title"] input').fill("本周精选")
    page.locator('#deco-form [data-field="limit"] input').fill("6")

    page.locator("#deco-save").click()
    expect(page.locator("#deco-status")).to_have_text(shop_text("Draft saved."))
    expect(page.locator("#deco-blocks > li.invalid")).to_have_count(0)

    # the preview (the saved draft, for console staff) shows both blocks ...
    preview = page.frame_locator("#deco-preview")
    expect(preview.locator("body")).to_contain_text("本周精选")
    expect(preview.locator(f'.block-banner img[src="{uploaded}"]')).to_be_visible()
    for name in names:
        expect(preview.locator(".block-product_grid")).to_contain_text(name)
    # ... and the draft as its own page, /?preview=draft
    tab = page.context.new_page()
    visit(tab, live_site.url("/?preview=draft", shop=shop.slug))
    expect(tab.locator(f'.block-banner img[src="{uploaded}"]')).to_be_visible()
    tab.close()

    # a shopper sees nothing of the draft, even asking for the preview
    visit(shopper, home)
    expect(shopper.locator(".block-banner")).to_have_count(0)
    expect(shopper.get_by_text("本周精选")).to_have_count(0)
    visit(shopper, live_site.url("/?preview=draft", shop=shop.slug))
    expect(shopper.locator(".block-banner")).to_have_count(0)
    expect(shopper.locator(".preview-banner")).to_have_count(0)

    page.locator("#deco-publish").click()
    expect(page.locator("#deco-versions > li")).to_have_count(1)
    expect(page.locator("#deco-state")).to_have_text(shop_text("Published: version %(n)s.") % {"n": 1})

    # the shopper's phone: the banner (its image loaded) above the grid of the products
    visit(shopper, home)
    slide = shopper.locator(f'.block-banner .slide.on img[src="{uploaded}"]')
    expect(slide).to_be_visible()
    expect(slide).to_have_attribute("alt", "春茶上新")
    shopper.wait_for_function("(img) => img.complete && img.naturalWidth === 320", arg=slide.element_handle())
    grid = shopper.locator(".block-product_grid")
    expect(grid).to_be_visible()
    expect(grid.locator(".block-title")).to_contain_text("本周精选")
    cards = grid.locator(".product-card")
    expect(cards).to_have_count(len(names))
    for name, pk in shop.products.items():
        card = cards.filter(has_text=name)
        expect(card).to_be_visible()
        expect(card).to_have_attribute("href", f"/products/{pk}/")
    kinds = shopper.locator("main section.block").evaluate_all("(all) => all.map((s) => s.className)")
    assert [k.split()[-1] for k in kinds] == ["block-banner", "block-product_grid"]
    assert fits_the_screen(shopper)

    # a tap on a product opens it
    cards.filter(has_text=names[0]).tap()
    shopper.wait_for_url(live_site.url(f"/products/{shop.products[names[0]]}/", shop=shop.slug))
    expect(shopper.locator("h1")).to_have_text(names[0])


def test_switching_to_the_minimal_theme_changes_the_product_page(
    browsers: Browsers, live_site: LiveSite, open_shop: Callable[..., Shop]
) -> None:
    from playwright.sync_api import expect

    shop = open_shop("theme-switch", "standard", ["桂花乌龙"])
    page, shopper = browsers.merchant, browsers.shopper
    product_url = live_site.url(f"/products/{shop.products['桂花乌龙']}/", shop=shop.slug)

    visit(shopper, product_url)  # the default theme
    expect(shopper.locator("body")).to_have_class("theme-allround")
    expect(shopper.locator(".allround-product h1")).to_have_text("桂花乌龙")

    log_in(page, live_site, shop)
    theme_console = live_site.url("/console/theme/", shop=shop.slug)
    page.goto(theme_console)
    page.locator('[data-choose="minimal"]').click()
    page.wait_for_url(theme_console)
    expect(page.locator('.theme-card.on input[name="theme"]')).to_have_value("minimal")
    # the console's preview shows the draft; the shopper still gets the published theme
    expect(page.frame_locator("#theme-preview").locator("body")).to_have_class("theme-minimal")
    visit(shopper, product_url)
    expect(shopper.locator(".allround-product")).to_be_visible()
    expect(shopper.locator(".minimal-product")).to_have_count(0)

    page.locator("#publish-theme").click()
    page.wait_for_url(theme_console)
    expect(page.locator("#publish-theme")).to_be_disabled()  # nothing left unpublished

    visit(shopper, product_url)
    expect(shopper.locator("body")).to_have_class("theme-minimal")
    expect(shopper.locator(".minimal-product")).to_be_visible()
    expect(shopper.locator(".minimal-product h1")).to_have_text("桂花乌龙")
    expect(shopper.locator(".allround-product")).to_have_count(0)
    assert fits_the_screen(shopper)


def test_an_override_changes_the_product_page_and_a_broken_one_does_not_break_it(
    browsers: Browsers, live_site: LiveSite, open_shop: Callable[..., Shop]
) -> None:
    from playwright.sync_api import expect

    shop = open_shop("theme-code", "custom", ["Walker bag"])
    page, shopper = browsers.merchant, browsers.shopper
    product_url = live_site.url(f"/products/{shop.products['Walker bag']}/", shop=shop.slug)

    log_in(page, live_site, shop)
    code_console = live_site.url("/console/theme/code/?name=templates/product", shop=shop.slug)
    page.goto(code_console)
    source = page.locator("textarea.code")
    expect(source).to_contain_text("allround-product")  # the theme's own template to start from
    source.fill(
        '<article class="product brand-own">\n'
        "  <h1>{{ product.name | upcase }}</h1>\n"
        '  <p class="price">{{ product.price | money }}</p>\n'
        "</article>\n"
    )
    page.get_by_role("button", name=shop_text("Save draft"), exact=True).click()
    page.wait_for_url(code_console)
    expect(page.locator("#override-problem")).to_have_count(0)
    visit(shopper, product_url)
    expect(shopper.locator(".brand-own")).to_have_count(0)  # a draft: not for shoppers

    page.locator("#publish-override").click()
    page.wait_for_url(code_console)
    expect(page.locator("#publish-override")).to_have_count(0)

    visit(shopper, product_url)
    expect(shopper.locator(".brand-own h1")).to_have_text("WALKER BAG")
    expect(shopper.locator(".allround-product")).to_have_count(0)

    # an override that fails only on live data, published behind the console's back
    def break_it() -> None:
        from django.core.cache import cache
        from django_tenants.utils import schema_context

        from shop.storefront.models import ShopTheme, TemplateOverride

        with schema_context(shop.schema):
            TemplateOverride.objects.filter(name="templates/product").update(
                source="{% for i in (1..product.id) %}{% for j in (1..100000) %}x{% endfor %}{% endfor %}",
                draft=None,
                is_published=True,
            )
            ShopTheme.objects.filter(pk=1).update(override_revision=999)
            from shop.storefront.theming import ROW_KEY

            cache.delete(ROW_KEY)  # the console's services do this on commit

    orm(break_it)
    html = visit(shopper, product_url)
    assert "Traceback" not in html
    expect(shopper.locator(".allround-product h1")).to_have_text("Walker bag")  # the theme's own page
    expect(shopper.locator(".brand-own")).to_have_count(0)
    expect(shopper.locator(".allround-product [data-price]")).to_be_visible()  # still a page to buy from
    assert fits_the_screen(shopper)

    # the merchant finds the failure listed in the code console
    page.goto(code_console)
    expect(page.locator("table").last).to_contain_text("templates/product")
