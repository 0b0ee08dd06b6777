"""A merchant opens a shop from a phone: signup (a field error first), the console on the
shop's own host, the storefront, logging out and in again. And an unknown host's 404."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from tests.browser.conftest import LiveSite, chinese_renders, orm

if TYPE_CHECKING:
    from playwright.sync_api import Page

SHOP_NAME = "小鹿茶铺"
SLUG = "xiaolu-tea"
EMAIL = "owner@xiaolu.test"
WEAK_PASSWORD = "12345678"  # entirely numeric and too common
STRONG_PASSWORD = "deer-tea-leaves-2718"


def shop_state(slug: str) -> dict[str, Any] | None:
    """The shop and its owner as stored (None: no shop), read in a worker thread."""

    def read() -> dict[str, Any] | None:
        from django.contrib.auth import get_user_model
        from django_tenants.utils import schema_context

        from tenants.models import Domain, Tenant

        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            return None
        with schema_context(tenant.schema_name):
            owners = list(get_user_model().objects.filter(is_owner=True).values_list("email", flat=True))
        return {
            "name": tenant.name,
            "status": tenant.status,
            "domains": list(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True)),
            "owners": owners,
        }

    return orm(read)


def fits_the_screen(page: Page) -> bool:
    """No sideways scrolling at phone width."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_merchant_signs_up_on_a_phone_and_runs_their_shop(
    phone: Page, live_site: LiveSite, live_db: list[str], shot: Callable[..., Path]
) -> None:
    from playwright.sync_api import expect

    live_db.append(SLUG)  # removed after the test, whatever happens
    page = phone
    console_url = live_site.url("/console/", shop=SLUG)

    # the platform's signup page
    page.goto(live_site.url("/signup/"))
    expect(page.locator("h1")).to_have_text("开通您的分销商城")
    assert chinese_renders(page, "h1")
    page.locator("#name").fill(SHOP_NAME)
    page.locator("#slug").fill(SLUG)
    page.locator("#email").fill(EMAIL)
    page.locator("#password").fill(WEAK_PASSWORD)
    shot("1-signup-filled")
    assert fits_the_screen(page)

    # a weak password: the field error in the page, what was typed kept, no shop
    page.get_by_role("button", name="立即开店").tap()
    password_errors = page.locator("#password + .hint + ul.errors")
    expect(password_errors).to_be_visible()
    expect(password_errors).to_contain_text("这个密码太常见了")
    expect(password_errors).to_contain_text("密码只包含数字")
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator("#name")).to_have_value(SHOP_NAME)
    expect(page.locator("#slug")).to_have_value(SLUG)
    expect(page.locator("#email")).to_have_value(EMAIL)
    assert page.url == live_site.url("/signup/")
    shot("2-signup-weak-password")
    assert fits_the_screen(page)
    assert shop_state(SLUG) is None
    other_tab = page.context.new_page()
    nothing = other_tab.goto(live_site.url("/", shop=SLUG))
    assert nothing is not None and nothing.status == 404  # the unknown-host page
    expect(other_tab.locator("main strong")).to_have_text(f"{SLUG}.{settings.PLATFORM_DOMAIN}")
    other_tab.close()

    # a strong password: the shop is live and its owner lands in its console, logged in
    page.locator("#password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="立即开店").tap()
    page.wait_for_url(console_url)
    expect(page.locator("h1")).to_have_text(f"欢迎来到{SHOP_NAME}")
    expect(page.locator("header.top .brand")).to_contain_text(SHOP_NAME)
    assert chinese_renders(page, "h1")
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    shot("3-console")
    assert fits_the_screen(page)
    assert shop_state(SLUG) == {
        "name": SHOP_NAME,
        "status": "active",
        "domains": [f"{SLUG}.{settings.PLATFORM_DOMAIN}"],
        "owners": [EMAIL],
    }

    # the storefront opens in a new tab on the shop's host
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="店铺首页", exact=True).tap()
    storefront = opened.value
    storefront.wait_for_url(live_site.url("/", shop=SLUG))
    expect(storefront.locator("h1")).to_have_text(SHOP_NAME)
    assert chinese_renders(storefront, "h1")
    expect(storefront.locator("header.top .brand")).to_have_text(SHOP_NAME)
    expect(storefront.get_by_text("欢迎光临！商品即将上架，敬请期待。")).to_be_visible()
    shot("4-storefront", page=storefront)
    assert fits_the_screen(storefront)
    storefront.close()

    # log out: the console asks for a login again
    page.get_by_role("button", name="退出登录").tap()
    page.wait_for_url(live_site.url("/console/login/", shop=SLUG))
    expect(page.locator("h1")).to_have_text("登录您的店铺")
    page.goto(console_url)
    page.wait_for_url(live_site.url("/console/login/?next=/console/", shop=SLUG))
    shot("5-login")
    assert fits_the_screen(page)

    # log in again with email and password
    page.get_by_label("邮箱").fill(EMAIL)
    page.get_by_label("密码").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).tap()
    page.wait_for_url(console_url)
    expect(page.locator("h1")).to_have_text(f"欢迎来到{SHOP_NAME}")
    shot("6-console-again")


def test_unknown_host_shows_the_404_page(phone: Page, live_site: LiveSite, shot: Callable[..., Path]) -> None:
    from playwright.sync_api import expect

    page = phone
    response = page.goto(live_site.url("/", host="nosuch.localhost"))
    assert response is not None and response.status == 404
    expect(page.locator("p.big")).to_have_text("404")
    expect(page.locator("h1")).to_have_text("此地址下没有店铺")
    assert chinese_renders(page, "h1")
    expect(page.locator("main strong")).to_have_text("nosuch.localhost")
    shot("404")
    assert fits_the_screen(page)
