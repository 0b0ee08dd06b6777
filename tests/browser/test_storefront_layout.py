"""Every storefront page on a phone (390x844, zh-hans) passes an axe-core check with no
serious or critical violation (axe-core as bundled by the ``axe-playwright-python`` wheel,
run in headless Chromium; nothing fetched from a CDN), and the bottom navigation never
covers the page's last content (scrolled to the end, the footer sits above the tab bar).

Screenshots of each page (``BROWSER_SCREENSHOTS=<dir>`` keeps them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import LiveSite, orm
from tests.browser.test_storefront_journeys import PHONE_NUMBER, _setup
from tests.browser.test_themes_flow import Shop, open_shop  # noqa: F401
from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

SERIOUS = ("serious", "critical")
# The last thing in the page's flow must end above the fixed tab bar once scrolled down.
_UNCOVERED = """() => {
  window.scrollTo(0, document.documentElement.scrollHeight);
  const bar = document.querySelector('.tabbar');
  if (!bar || getComputedStyle(bar).display === 'none') { return true; }
  const items = [...document.querySelectorAll('main > *, footer')].filter((e) => e.offsetParent !== null);
  const last = items[items.length - 1];
  return !last || last.getBoundingClientRect().bottom <= bar.getBoundingClientRect().top + 1;
}"""

_HEADINGS_OUTSIDE = """() => [...document.querySelectorAll('.card > legend, .card > h2')].filter((h) => {
  const card = h.parentElement.getBoundingClientRect(), box = h.getBoundingClientRect();
  return box.top < card.top || box.bottom > card.bottom || box.left < card.left || box.right > card.right;
}).map((h) => h.textContent.trim())"""


def _order(shop: Shop) -> int:
    """An unpaid order of the member (the order, payment pages)."""
    from django_tenants.utils import schema_context

    from shop.catalogue.models import Sku
    from shop.members.models import Member
    from shop.orders import services as orders

    with schema_context(shop.schema):
        buyer = Member.objects.get(phone=PHONE_NUMBER)
        sku = Sku.objects.filter(product_id=shop.products["青瓷杯"]).get()
        placed = orders.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        return int(placed.pk)


def violations(page: Page) -> list[dict[str, Any]]:
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:  # pragma: no cover - requirements/test.txt installs it
        pytest.fail("axe-playwright-python is not installed (requirements/test.txt)", pytrace=False)
    found = Axe().run(page).response["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5], "help": v["help"]}
        for v in found
        if v["impact"] in SERIOUS
    ]


def test_every_storefront_page_passes_axe_and_nothing_hides_under_the_tab_bar(
    phone: Page,
    live_site: LiveSite,
    open_shop: Callable[..., Shop],  # noqa: F811 - the fixture, imported
    shot: Callable[..., Path],
) -> None:
    shop = open_shop("axe-shop", "standard", ["明前龙井", "青瓷杯"])
    made = orm(lambda: _setup(shop))
    order = orm(lambda: _order(shop))
    url = lambda path: live_site.url(path, shop=shop.slug)  # noqa: E731
    tea = made["tea"]
    guest_pages = ["/", "/categories/", "/products/", "/products/?q=龙井", f"/products/{tea}/", "/coupons/"]
    guest_pages += ["/account/login/", "/account/register/", "/nothing-here/"]
    member_pages = [
        "/cart/",
        "/checkout/",
        "/account/",
        "/account/orders/",
        f"/account/orders/{order}/",
        f"/account/orders/{order}/pay/",
        "/account/coupons/",
        "/account/aftersales/",
        "/account/distributor/",
        "/account/addresses/new/",
        "/account/profile/",
    ]
    problems: dict[str, Any] = {}
    covered: list[str] = []

    def check(path: str) -> None:
        phone.goto(url(path))
        shot(path.strip("/").replace("/", "_").replace("?", "_") or "home")
        found = violations(phone)
        if found:
            problems[path] = found
        if not phone.evaluate(_UNCOVERED):
            covered.append(path)

    for path in guest_pages:
        check(path)
    phone.goto(url("/account/login/"))
    phone.locator('input[name="login"]').fill(PHONE_NUMBER)
    phone.locator('input[name="password"]').fill(PASSWORD)
    phone.locator('form button[type="submit"]').first.click()
    phone.wait_for_url(lambda address: "/login/" not in address)
    phone.goto(url(f"/products/{tea}/"))
    phone.get_by_role("button", name="加入购物车").click()
    phone.wait_for_url(url("/cart/"))
    for path in member_pages:
        check(path)
    # checkout: each section's heading sits inside its card
    phone.goto(url("/checkout/"))
    outside = phone.evaluate(_HEADINGS_OUTSIDE)
    assert outside == [], f"headings outside their cards: {outside}"
    assert not covered, f"the tab bar covers the end of {covered}"
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
