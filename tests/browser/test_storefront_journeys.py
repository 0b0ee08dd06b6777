"""A shopper's journeys in the storefront on a phone (390x844, zh-hans), in headless Chromium:

* coupons: claim one from the home page's decorated coupon block (one tap, a message),
  see it on the product page and in the coupon centre, use it at checkout (the best one
  first, the one that does not apply says why), find it under "my coupons";
* a cart filled during a limited-time discount: the discounted price everywhere (list,
  product page, SKU list, cart) and no "price changed" alarm; the order placed at it;
* times in the shop's time zone (Beijing) on the order and payment pages.

Screenshots of each page (``BROWSER_SCREENSHOTS=<dir>`` keeps them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import LiveSite, orm
from tests.browser.test_themes_flow import Browsers, Shop, browsers, log_in, open_shop, shop_text, visit  # noqa: F401
from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

PHONE_NUMBER = "13700000009"


def _setup(shop: Shop) -> dict[str, Any]:
    """Free delivery; 明前龙井 at 199.00 with a running 10% discount (179.10); two claimable
    coupons in the home page's coupon block (20 off from 150, 50 off from 500); a member
    with an address."""
    from datetime import timedelta

    from django.utils import timezone
    from django_tenants.utils import schema_context

    from shop.catalogue.models import Sku
    from shop.checkout.models import ShippingTemplate
    from shop.decoration import services as decoration
    from shop.marketing import services as marketing
    from shop.members import services as members
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=shop.slug)
    now = timezone.now()
    with schema_context(shop.schema):
        ShippingTemplate.objects.update_or_create(
            is_default=True, defaults={"name": "包邮", "default_fee": 0, "free_over": None, "rules": []}
        )
        tea = shop.products["明前龙井"]
        Sku.objects.filter(product_id=tea).update(price=19900, stock=20)
        marketing.discount_save(
            {
                "name": "双十二限时折扣",
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=5)).isoformat(),
                "items": [{"product": tea, "percent_off": 10}],
            }
        )
        small = marketing.coupon_template_save(
            {"name": "满150减20", "kind": "fixed", "amount": 2000, "min_spend": 15000, "valid_days": 7}
        )
        big = marketing.coupon_template_save(
            {"name": "满500减50", "kind": "fixed", "amount": 5000, "min_spend": 50000, "valid_days": 7}
        )
        home = decoration.home_page()
        blocks = [{"type": "coupons", "config": {"title": "领券再买", "template_ids": [small.pk, big.pk]}}]
        decoration.page_save_draft(home, {"blocks": blocks}, tenant=tenant)
        decoration.page_publish(home, tenant=tenant)
        buyer = members.member_register(phone=PHONE_NUMBER, password=PASSWORD, name="小王")
        members.address_create(
            buyer,
            recipient="王五",
            phone=PHONE_NUMBER,
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路 9 号",
        )
        return {"tea": tea, "small": small.pk, "big": big.pk}


def times_in(text: str) -> list[str]:
    return re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)


def _order_times(shop: Shop, number: str) -> dict[str, str]:
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from shop.orders.models import Order

    with schema_context(shop.schema):
        order = Order.objects.get(number=number)
        beijing = timezone.localtime(order.created_at)  # settings.TIME_ZONE: the shop's time zone
        assert order.pay_by is not None
        return {
            "created": beijing.strftime("%Y-%m-%d %H:%M"),
            "utc": order.created_at.strftime("%Y-%m-%d %H:%M"),
            "pay_by": timezone.localtime(order.pay_by).strftime("%Y-%m-%d %H:%M"),
        }


def test_claim_from_the_block_use_at_checkout_during_a_discount(
    phone: Page,
    live_site: LiveSite,
    open_shop: Callable[..., Shop],  # noqa: F811 - the fixture, imported
    shot: Callable[..., Path],
    screenshots: Path,
) -> None:
    shop = open_shop("coupon-trip", "standard", ["明前龙井", "青瓷杯"])
    made = orm(lambda: _setup(shop))
    url = lambda path: live_site.url(path, shop=shop.slug)  # noqa: E731

    phone.goto(url("/account/login/?next=/"))
    phone.locator('input[name="login"]').fill(PHONE_NUMBER)
    phone.locator('input[name="password"]').fill(PASSWORD)
    phone.locator('form button[type="submit"]').first.click()
    phone.wait_for_url(url("/"))

    # the home page's coupon block: real coupons, a claim button each
    block = phone.locator(".block-coupons")
    assert "满150减20" in block.inner_text() and "满 ¥150.00 可用" in block.inner_text()
    shot("home-coupon-block")
    phone.get_by_role("button", name="领取 满150减20").click()
    phone.wait_for_url(url("/"))
    assert "领取成功：满150减20" in phone.locator(".flash").inner_text()
    shot("home-claimed")

    # the discount's price wherever the product is shown
    phone.goto(url("/products/"))
    card = phone.locator(".product-card", has_text="明前龙井")
    assert "¥179.10" in card.inner_text()
    shot("product-list-discounted")
    card.click()
    assert "¥179.10" in phone.locator(".product-info").inner_text()
    coupons = phone.locator(".product-coupons")
    assert "满150减20" in coupons.inner_text() and "已领取" in coupons.inner_text()
    shot("product-page")
    phone.get_by_role("button", name="加入购物车").click()
    phone.wait_for_url(url("/cart/"))
    cart = phone.locator("main").inner_text()
    assert "¥179.10" in cart and "价格已变动" not in cart and "上涨" not in cart
    shot("cart-during-discount")

    # checkout: the claimed coupon first and recommended; the other says why it does not apply
    phone.get_by_role("link", name="去结算").click()
    phone.wait_for_url(url("/checkout/"))
    choices = phone.locator(".coupon-choices")
    assert "最优" in choices.inner_text() and "省 ¥20.00" in choices.inner_text()
    shot("checkout-coupons")
    choices.screenshot(path=str(screenshots / "journey--checkout-coupon-choices.png"))
    phone.locator(".coupon-choice", has_text="满150减20").locator("input").check()
    phone.get_by_role("button", name="重新计算").click()
    place = phone.locator("button[data-place-order]")
    assert "¥159.10" in place.inner_text()
    assert "价格已变动" not in phone.locator("main").inner_text()
    shot("checkout-coupon-chosen")
    place.click()
    phone.wait_for_url("**/pay/")
    payment = phone.locator("main").inner_text()
    assert "¥159.10" in payment
    shot("payment")

    # the order's times in Beijing time, as the console shows them
    found = re.search(r"订单号\W*(\d+)", payment)
    assert found is not None
    number = found.group(1)
    assert "请在 " in payment and times_in(payment)
    times = orm(lambda: _order_times(shop, number))
    assert times_in(payment) == [times["pay_by"]]  # the payment deadline in Beijing time
    phone.goto(url("/account/orders/"))
    phone.locator(".order-row").first.click()
    detail = phone.locator("main").inner_text()
    assert times["created"] in detail
    if times["utc"] != times["created"]:
        assert times["utc"] not in detail
    shot("order-detail")

    # my coupons: the coupon is held by the unpaid order
    phone.goto(url("/account/coupons/"))
    mine = phone.locator("main").inner_text()
    assert "满150减20" in mine and "未付款订单占用中" in mine
    shot("my-coupons")
    phone.goto(url("/coupons/"))
    assert "满500减50" in phone.locator("main").inner_text()
    shot("coupon-centre")
    assert made["tea"]


def test_merchant_picks_the_coupon_blocks_coupons_from_a_list(
    browsers: Browsers,  # noqa: F811 - the fixture, imported
    live_site: LiveSite,
    open_shop: Callable[..., Shop],  # noqa: F811
    screenshots: Path,
) -> None:
    """The coupon block's setting in the page editor is a list of the shop's coupons to
    tick (no ids to type); the shopper's home page then shows the ticked ones, in order."""
    from playwright.sync_api import expect

    shop = open_shop("coupon-pick", "standard", ["明前龙井"])

    def coupons() -> list[int]:
        from django_tenants.utils import schema_context

        from shop.marketing import services as marketing

        with schema_context(shop.schema):
            return [
                marketing.coupon_template_save({"name": name, "kind": "fixed", "amount": 500, "valid_days": 3}).pk
                for name in ("新人券", "周末券", "会员券")
            ]

    first, second, third = orm(coupons)
    page, shopper = browsers.merchant, browsers.shopper
    log_in(page, live_site, shop)
    page.goto(live_site.url("/console/pages/home/", shop=shop.slug))
    expect(page.locator("body")).to_have_attribute("data-editor-ready", "1")
    page.locator('#deco-palette [data-type="coupons"]').click()
    page.locator('#deco-form [data-field="title"] input').fill("领券中心")
    picker = page.locator("#deco-form .coupon-picker")
    expect(picker.locator("input[type=checkbox]")).to_have_count(3)
    picker.locator(f'input[data-coupon="{third}"]').check()
    picker.locator(f'input[data-coupon="{first}"]').check()
    page.locator("#deco-form").screenshot(path=str(screenshots / "console--coupon-picker.png"))
    page.locator("#deco-save").click()
    expect(page.locator("#deco-status")).to_have_text(shop_text("Draft saved."))
    page.locator("#deco-publish").click()
    expect(page.locator("#deco-versions > li")).to_have_count(1)

    visit(shopper, live_site.url("/", shop=shop.slug))
    block = shopper.locator(".block-coupons")
    expect(block).to_be_visible()
    names = block.locator(".coupon-name").all_inner_texts()
    assert names == ["会员券", "新人券"] and second
    shopper.screenshot(path=str(screenshots / "home--picked-coupons.png"), full_page=True)
