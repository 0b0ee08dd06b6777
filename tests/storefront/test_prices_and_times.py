"""What the storefront says about prices and times:

* the price a buyer pays now wherever a price is shown while a limited-time discount runs
  (product list, the default home grid and a decorated product grid, the SKU list under
  the discount banner, the commission preview, the distributor's poster);
* no "price changed" alarm for a cart filled during a running discount; a warning only
  when what the buyer pays differs from what they saw, saying up or down (cart and
  checkout);
* times in the shop's time zone (Beijing), as the console prints them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import in_shop, shop_client
from tests.marketing.helpers import discount
from tests.orders.conftest import product
from tests.storefront.test_coupons import logged_in

pytestmark = pytest.mark.django_db(transaction=False)


def two_skus(tenant: Any, name: str = "Oolong") -> Any:
    from shop.catalogue import services

    with in_shop(tenant):
        made = services.product_save(
            tenant,
            {
                "name": name,
                "specs": [{"name": "Size", "values": ["S", "L"]}],
                "skus": [
                    {"spec": {"Size": "S"}, "price": 10000, "stock": 5},
                    {"spec": {"Size": "L"}, "price": 20000, "stock": 5},
                ],
            },
        )
        services.product_set_status([made], "on_sale")
        return made


def test_the_discounted_price_is_shown_wherever_the_product_is(alpha: Any) -> None:
    made = two_skus(alpha)
    plain = product(alpha, name="Plain", price=5000)
    discount(alpha, [{"product": made.pk, "percent_off": 10}])
    client = shop_client(alpha)
    client.cookies["django_language"] = "en"
    listing = client.get("/products/").content.decode()
    card = listing[listing.index("Oolong") : listing.index("Oolong") + 400]
    assert "¥90.00" in card and "<s>¥100.00</s>" in card
    plain_card = listing[listing.index("Plain") : listing.index("</a>", listing.index("Plain"))]
    assert "¥50.00" in plain_card and "<s>" not in plain_card
    home = client.get("/").content.decode()  # the undecorated home page's grid
    assert "¥90.00" in home
    page = client.get(f"/products/{made.pk}/").content.decode()
    skus = re.findall(r'<span class="sku-price">([^<]+)</span>', page)
    assert skus == ["¥90.00", "¥180.00"]  # the SKU list under the discount banner
    assert re.search(r"<span data-price>¥90.00 – ¥180.00</span> <s>¥100.00</s>", page)
    assert plain


def test_a_decorated_grid_shows_the_discount_as_soon_as_it_starts(alpha: Any) -> None:
    from tests.conftest import owner_client
    from tests.decoration.helpers import draft_url, put

    made = two_skus(alpha, "Grid tea")
    owner = owner_client(alpha)
    grid = {"type": "product_grid", "config": {"title": "Picks", "source": "manual", "product_ids": [made.pk]}}
    assert put(owner, draft_url("home"), {"blocks": [grid]}).status_code == 200
    assert owner.post("/api/v1/console/pages/home/publish/").status_code == 200
    client = shop_client(alpha)
    before = client.get("/").content.decode()  # cached for every visitor...
    assert "¥100.00" in before and "¥90.00" not in before
    discount(alpha, [{"product": made.pk, "percent_off": 10}])
    after = client.get("/").content.decode()  # ...yet the running discount shows at once
    assert "¥90.00" in after and "<s>¥100.00</s>" in after


def test_a_cart_filled_during_a_discount_raises_no_alarm(alpha: Any) -> None:
    from shop.catalogue.models import Sku

    sku = product(alpha, name="Tea", price=19900)
    discount(alpha, [{"product": sku.product_id, "percent_off": 10}])
    client, _buyer = logged_in(alpha)
    client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1})
    cart = client.get("/cart/").content.decode()
    assert "¥179.10" in cart and "<s>¥199.00</s>" in cart
    assert "changed" not in cart and "Up from" not in cart and "Down from" not in cart
    checkout = client.get("/checkout/").content.decode()
    assert "¥179.10" in checkout and "went up" not in checkout and "went down" not in checkout
    # what the buyer pays now moved from what they saw: the cart says so, and which way
    with in_shop(alpha):
        Sku.objects.filter(pk=sku.pk).update(price=25000)
    up = client.get("/cart/").content.decode()
    assert "¥225.00" in up and "Up from ¥179.10 when you added it" in up
    with in_shop(alpha):
        Sku.objects.filter(pk=sku.pk).update(price=10000)
    down = client.get("/cart/").content.decode()
    assert "¥90.00" in down and "Down from ¥179.10 when you added it" in down
    # adding it again: the buyer has seen the new price, no warning any more
    client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1})
    again = client.get("/cart/").content.decode()
    assert "Down from" not in again


def test_checkout_says_whether_the_total_went_up_or_down(alpha: Any) -> None:
    from shop.catalogue.models import Sku

    sku = product(alpha, name="Longjing", price=2000, stock=5)
    client, _buyer = logged_in(alpha, "13700137000")
    client.post("/cart/add/", {"product": sku.product_id, "sku": sku.pk, "quantity": 1})
    html = client.get("/checkout/").content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    address = re.search(r'name="address" value="(\d+)"', html)
    assert key and address
    with in_shop(alpha):
        Sku.objects.filter(pk=sku.pk).update(price=2500)
    form = {"fulfilment": "delivery", "address": address.group(1), "expected_payable": "2000", "quoted_coupon": ""}
    refused = client.post("/checkout/", {**form, "idempotency_key": key.group(1)})
    assert refused.status_code == 409
    body = refused.content.decode()
    assert "The total went up from ¥20.00 to ¥25.00 (¥5.00 more)." in body
    with in_shop(alpha):
        Sku.objects.filter(pk=sku.pk).update(price=1500)
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', body)
    assert fresh
    lower = client.post("/checkout/", {**form, "idempotency_key": fresh.group(1), "expected_payable": "2500"})
    assert lower.status_code == 409
    assert "The total went down from ¥25.00 to ¥15.00 (¥10.00 less)." in lower.content.decode()


def test_times_are_in_the_shops_time_zone(alpha: Any) -> None:
    from shop.orders import services as orders
    from shop.orders.models import Order

    sku = product(alpha, name="Tea", price=1000)
    client, buyer = logged_in(alpha)
    with in_shop(alpha):
        order = orders.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        # 23:30 UTC is 07:30 the next day in Beijing
        Order.objects.filter(pk=order.pk).update(
            created_at=datetime(2026, 12, 7, 23, 30, tzinfo=UTC), pay_by=datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
        )
    detail = client.get(f"/account/orders/{order.pk}/").content.decode()
    assert "2026-12-08 07:30" in detail and "2026-12-07 23:30" not in detail
    pay = client.get(f"/account/orders/{order.pk}/pay/").content.decode()
    assert "2026-12-08 08:00" in pay and "2026-12-08 00:00" not in pay


def test_commission_preview_and_poster_use_the_discounted_price(beta: Any) -> None:
    from distribution.materials import product_facts
    from shop.catalogue.models import Product
    from tests.distribution.conftest import configure, distributor
    from tests.orders.conftest import member_client

    configure(beta, levels=2, rate_level1_bp=1000, preview_audience="everyone")
    sku = product(beta, price=20000, name="Preview")
    discount(beta, [{"product": sku.product_id, "percent_off": 25}])
    preview = shop_client(beta).get(f"/api/v1/distribution/preview/{sku.product_id}/").json()
    assert preview["skus"][0]["price"] == 15000 and preview["skus"][0]["commission"] == 1500
    page = shop_client(beta)
    page.cookies["django_language"] = "en"
    assert "¥15.00" in page.get(f"/products/{sku.product_id}/").content.decode()  # "earn ¥15.00"
    with in_shop(beta):
        facts = product_facts(Product.objects.get(pk=sku.product_id))
    assert facts["price_fen"] == 15000 and facts["list_price_fen"] == 20000
    sharer = distributor(beta)
    assert member_client(beta, sharer.member).get(f"/api/v1/distribution/preview/{sku.product_id}/").status_code == 200
