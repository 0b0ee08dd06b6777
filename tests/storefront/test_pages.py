"""The storefront as a shopper uses it: pages rendered by the shop's theme, the whole
purchase path through plain HTML forms (delivery and pickup), bad input answered on the
page, and one shop's pages never showing another's."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD, in_shop, shop_client
from tests.orders.conftest import member, product

pytestmark = pytest.mark.django_db(transaction=False)


def logged_in(tenant: Any, phone: str = "13800138000") -> tuple[Client, Any]:
    buyer = member(tenant, phone)
    client = shop_client(tenant)
    response = client.post("/account/login/", {"login": phone, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client, buyer


def english(client: Client) -> Client:
    client.cookies["django_language"] = "en"
    return client


def field(html: str, pattern: str) -> str:
    found = re.search(pattern, html)
    assert found is not None, f"{pattern} not on the page"
    return found.group(1)


def test_home_lists_products_and_sends_a_csp(alpha: Any) -> None:
    sku = product(alpha, name="Oolong tea", price=1250)
    response = english(shop_client(alpha)).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Oolong tea" in html and "¥12.50" in html
    assert f'href="/products/{sku.product_id}/"' in html
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "'unsafe-eval'" not in csp
    assert re.search(r"script-src 'self' 'nonce-[\w-]+'", csp)


def test_product_page_category_search_and_404(alpha: Any) -> None:
    sku = product(alpha, name="Jasmine green", price=3300, stock=4)
    client = english(shop_client(alpha))
    page = client.get(f"/products/{sku.product_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Jasmine green" in html and "¥33.00" in html and "In stock: 4" in html
    assert 'action="/cart/add/"' in html
    found = client.get("/products/", {"q": "jasmine"})
    assert found.status_code == 200 and "Jasmine green" in found.content.decode()
    nothing = client.get("/products/", {"q": "coffee"})
    assert "Jasmine green" not in nothing.content.decode()
    missing = client.get("/products/999999/")
    assert missing.status_code == 404 and "Page not found" in missing.content.decode()
    assert "Traceback" not in missing.content.decode()


def test_guest_cart_then_login_then_checkout_delivery_and_pay_offline(alpha: Any) -> None:
    sku = product(alpha, name="Pu-erh", price=5000, stock=3)
    buyer = member(alpha, "13900139000")
    client = english(shop_client(alpha))
    added = client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 2})
    assert added.status_code == 302 and added["Location"] == "/cart/"
    cart = client.get("/cart/").content.decode()
    assert "Pu-erh" in cart and "¥100.00" in cart
    # checkout needs an account: log in, the guest cart follows
    assert client.get("/checkout/").status_code == 302
    client.post("/account/login/", {"login": "13900139000", "password": PASSWORD})
    page = client.get("/checkout/")
    assert page.status_code == 200
    html = page.content.decode()
    key = field(html, r'name="idempotency_key" value="([^"]+)"')
    address = field(html, r'name="address" value="(\d+)"')
    form = {"fulfilment": "delivery", "address": address, "idempotency_key": key, "expected_payable": "10000"}
    placed = client.post("/checkout/", form)
    assert placed.status_code == 302, placed.content.decode()[:2000]
    pay_url = placed["Location"]
    # a double tap sends the same key: the same order, not a second one
    again = client.post("/checkout/", form)
    assert again.status_code in (302, 409)
    from shop.orders.models import Order

    with in_shop(alpha):
        orders = list(Order.objects.filter(member=buyer))
        assert len(orders) == 1 and orders[0].payable == 10000
        order = orders[0]
    pay = client.get(pay_url)
    assert pay.status_code == 200 and "¥100.00" in pay.content.decode()
    started = client.post(pay_url, {"provider": "offline"})
    assert started.status_code == 200 and "confirmed by the merchant" in started.content.decode()
    detail = client.get(f"/account/orders/{order.pk}/").content.decode()
    assert order.number in detail and "Pu-erh" in detail


def test_checkout_pickup_and_changed_price_is_shown(alpha: Any) -> None:
    from shop.catalogue.models import Sku
    from shop.stores import services as stores

    sku = product(alpha, name="Longjing", price=2000, stock=5)
    with in_shop(alpha):
        stores.store_create(
            alpha,
            {
                "name": "West Lake",
                "phone": "0571-88888888",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "address": "龙井路 1 号",
            },
        )
    client, _buyer = logged_in(alpha, "13700137000")
    english(client)
    client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1})
    html = client.get("/checkout/?fulfilment=pickup").content.decode()
    key = field(html, r'name="idempotency_key" value="([^"]+)"')
    store = field(html, r'name="store" value="(\d+)"')
    with in_shop(alpha):
        Sku.objects.filter(pk=sku.pk).update(price=2500)
    refused = client.post(
        "/checkout/", {"fulfilment": "pickup", "store": store, "idempotency_key": key, "expected_payable": "2000"}
    )
    assert refused.status_code == 409
    body = refused.content.decode()
    assert "¥25.00" in body
    fresh_key = field(body, r'name="idempotency_key" value="([^"]+)"')
    placed = client.post(
        "/checkout/", {"fulfilment": "pickup", "store": store, "idempotency_key": fresh_key, "expected_payable": "2500"}
    )
    assert placed.status_code == 302


def test_bad_input_is_answered_on_the_page(alpha: Any) -> None:
    sku = product(alpha, name="Black tea", price=1000, stock=2)
    client = english(shop_client(alpha))
    too_many = client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 5})
    assert too_many.status_code == 400 and "Only 2 left" in too_many.content.decode()
    nonsense = client.post("/cart/add/", {"product": sku.product_id, "sku": "abc", "quantity": "x"})
    assert nonsense.status_code == 400
    from shop.checkout.models import CartItem

    with in_shop(alpha):
        assert not CartItem.objects.exists()
    client2, _buyer = logged_in(alpha, "13600136000")
    client2.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1})
    bad = english(client2).post("/checkout/", {"fulfilment": "teleport", "idempotency_key": "k" * 20})
    assert bad.status_code == 400 and "Choose delivery or store pickup" in bad.content.decode()


def test_another_shops_product_and_order_are_not_found(alpha: Any, beta: Any) -> None:
    sku = product(alpha, name="Alpha only")
    response = shop_client(beta).get(f"/products/{sku.product_id}/")
    assert response.status_code == 404 or "Alpha only" not in response.content.decode()
    assert "Alpha only" not in shop_client(beta).get("/").content.decode()


def test_wechat_browser_gets_the_same_working_pages(alpha: Any) -> None:
    sku = product(alpha, name="Wechat tea")
    agent = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
    )
    client = shop_client(alpha, HTTP_USER_AGENT=agent)
    page = client.get(f"/products/{sku.product_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="viewport"' in html and 'method="post" action="/cart/add/"' in html
    assert client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1}).status_code == 302


def test_offer_on_the_product_page_and_a_coupon_at_checkout(alpha: Any) -> None:
    from tests.marketing.helpers import coupon_state, coupon_template, discount, give_coupon

    sku = product(alpha, name="Gift box", price=12000, stock=5)
    discount(alpha, [{"product": sku.product_id, "percent_off": 10}])
    client, buyer = logged_in(alpha, "13500135000")
    english(client)
    page = client.get(f"/products/{sku.product_id}/").content.decode()
    assert "¥108.00" in page and "data-countdown" in page
    coupon = give_coupon(alpha, coupon_template(alpha, amount=2000, min_spend=10000), buyer)
    client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1})
    html = client.get(f"/checkout/?coupon={coupon}").content.decode()
    assert "¥88.00" in html  # 120 - 12 (offer) - 20 (coupon); the steps show each
    key = field(html, r'name="idempotency_key" value="([^"]+)"')
    address = field(html, r'name="address" value="(\d+)"')
    placed = client.post(
        "/checkout/",
        {
            "fulfilment": "delivery",
            "address": address,
            "coupon": coupon,
            "idempotency_key": key,
            "expected_payable": "8800",
        },
    )
    assert placed.status_code == 302, placed.content.decode()[:1500]
    assert coupon_state(alpha, coupon) == "locked"
