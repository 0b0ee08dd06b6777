"""Limited-time discounts: prices switch exactly at the boundaries (frozen clock), the
product API shows the activity price and its end, the buyer is told when an activity
ended since the cart was filled, the per-member limit counts unpaid and paid orders (not
cancelled ones); full reductions shared over the lines; the console's validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from shop.marketing.models import DiscountUse, FullReduction, LimitedDiscount
from tests.conftest import in_shop, owner_client, shop_client
from tests.marketing.helpers import discount, patch, post, reduction
from tests.orders.conftest import member_client, product

pytestmark = pytest.mark.django_db


def _address(tenant: Any, someone: Any) -> int:
    with in_shop(tenant):
        return int(someone.addresses.get().pk)


def _offers(tenant: Any, product_id: int) -> Any:
    return shop_client(tenant).get(f"/api/v1/marketing/products/{product_id}/offers/").json()["skus"]


def test_the_price_switches_exactly_at_the_start_and_the_end(alpha: Any) -> None:
    tea = product(alpha, price=10000)
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    end = start + timedelta(hours=2)
    discount(alpha, [{"product": tea.product_id, "percent_off": 20}], starts=start, ends=end)
    tick = timedelta(microseconds=1)
    for moment, expected in [
        (start - tick, None),
        (start, 8000),
        (end - tick, 8000),
        (end, None),
    ]:
        with mock.patch("django.utils.timezone.now", return_value=moment):
            offers = _offers(alpha, tea.product_id)
            with in_shop(alpha):
                from shop.checkout.services import quote

                priced = quote([(tea.pk, 1, None)], fulfilment="pickup").payable
        assert [o["activity_price"] for o in offers] == ([expected] if expected else []), moment
        assert priced == (expected or 10000), moment
    with mock.patch("django.utils.timezone.now", return_value=start):
        shown = _offers(alpha, tea.product_id)[0]
        detail = shop_client(alpha).get(f"/api/v1/catalogue/products/{tea.product_id}/").json()
    assert shown["price"] == 10000 and shown["activity"]["ends_at"].startswith(end.isoformat()[:19])
    assert [(a["sku"], a["activity_price"]) for a in detail["activities"]] == [(tea.pk, 8000)]
    assert shop_client(alpha).get(f"/api/v1/catalogue/products/{tea.product_id}/").json()["activities"] == []


def test_the_lowest_activity_price_wins_and_a_sku_price_beats_the_product_rule(alpha: Any) -> None:
    from shop.catalogue import services as catalogue

    with in_shop(alpha):
        made = catalogue.product_save(
            alpha,
            {
                "name": "Shirt",
                "specs": [{"name": "尺码", "values": ["M", "L"]}],
                "skus": [
                    {"spec": {"尺码": "M"}, "price": 10000, "stock": 5},
                    {"spec": {"尺码": "L"}, "price": 12000, "stock": 5},
                ],
            },
        )
        catalogue.product_set_status([made], "on_sale")
        m, large = made.skus.order_by("price")
    discount(alpha, [{"product": made.pk, "percent_off": 10}])
    discount(alpha, [{"product": made.pk, "sku": m.pk, "price": 7000}])
    offers = {o["sku"]: o["activity_price"] for o in _offers(alpha, made.pk)}
    assert offers == {m.pk: 7000, large.pk: 10800}


def test_the_buyer_sees_an_activity_that_ended_since_the_cart_was_filled(alpha: Any, buyer: Any) -> None:
    tea = product(alpha, price=10000)
    sale = discount(alpha, [{"product": tea.product_id, "price": 6600}])
    client = member_client(alpha, buyer)
    assert post(client, "/api/v1/cart/items/", {"sku": tea.pk, "quantity": 2}).status_code == 201
    q = post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup"}).json()
    assert q["payable"] == 13200 and q["changes"] == []
    assert q["lines"][0]["activity"]["unit_price"] == 6600 and q["lines"][0]["activity_discount"] == 6800
    assert post(owner_client(alpha), f"/api/v1/console/marketing/discounts/{sale.pk}/end/").status_code == 200
    q = post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup"}).json()
    assert q["payable"] == 20000
    assert q["changes"] == [{"sku": tea.pk, "code": "activity_ended", "was": 6600, "now": 10000}]
    refused = post(client, "/api/v1/orders/", {"fulfilment": "pickup_missing_store", "expected_payable": 13200})
    assert refused.status_code == 400  # (bad fulfilment: a field error first)
    from shop.stores import services as stores

    with in_shop(alpha):
        store = stores.store_create(
            alpha,
            {
                "name": "门店",
                "phone": "13800138000",
                "province": "北京市",
                "city": "北京市",
                "district": "东城区",
                "address": "1 号",
            },
        )
    refused = post(client, "/api/v1/orders/", {"fulfilment": "pickup", "store": store.pk, "expected_payable": 13200})
    assert refused.status_code == 409 and refused.json()["code"] == "price_changed"
    assert refused.json()["details"]["changes"][0]["code"] == "activity_ended"


def test_the_per_member_limit_counts_unpaid_and_paid_orders_not_cancelled_ones(
    alpha: Any, buyer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from shop.orders import services as orders

    tea = product(alpha, price=10000, stock=20)
    sale = discount(alpha, [{"product": tea.product_id, "percent_off": 50}], per_member_limit=3)
    address = _address(alpha, buyer)

    def order(quantity: int) -> Any:
        with in_shop(alpha):
            made = orders.order_create(
                buyer, items=[(tea.pk, quantity, None)], fulfilment="delivery", address_id=address
            )
            made.line = made.lines.get()  # type: ignore[attr-defined]
            return made

    first = order(2)
    assert first.line.activity_discount == 10000  # 2 × ¥50 off
    second = order(2)  # 2 + 2 > 3: this line at the normal price
    assert second.line.activity_discount == 0 and second.payable == 20000
    with in_shop(alpha):
        assert sum(DiscountUse.objects.filter(discount=sale).values_list("quantity", flat=True)) == 2
        orders.order_cancel(first, actor="test", reason="changed my mind")
    third = order(3)  # the cancelled order no longer counts
    assert third.line.activity_discount == 15000
    # the cart says why the price is the normal one
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": tea.pk, "quantity": 1})
    q = post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup"}).json()
    assert q["payable"] == 10000 and q["changes"][0]["code"] == "activity_limit"


def test_a_full_reduction_is_shared_over_the_lines_through_http_order_creation(alpha: Any, buyer: Any) -> None:
    tea, cup = product(alpha, price=9900, name="Tea"), product(alpha, price=5100, name="Cup")
    reduction(alpha, [{"threshold": 10000, "value": 1000}, {"threshold": 20000, "value": 3000}])
    reduction(alpha, [{"threshold": 10000, "value": 5}], kind="percent")  # ¥7.50 off ¥150: less
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": tea.pk, "quantity": 1})
    post(client, "/api/v1/cart/items/", {"sku": cup.pk, "quantity": 1})
    placed = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": _address(alpha, buyer)})
    assert placed.status_code == 201, placed.content
    lines = placed.json()["lines"]
    assert [line["promotion_share"] for line in lines] == [660, 340]
    assert sum(line["amount_paid"] for line in lines) == 15000 - 1000 == placed.json()["payable"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z", "items": []}, "name"),
        ({"name": "x", "ends_at": "2030-01-02T00:00:00Z", "items": []}, "starts_at"),
        ({"name": "x", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
        ({"name": "x", "starts_at": "soon", "ends_at": "2030-01-01T00:00:00Z"}, "starts_at"),
        ({"name": "x", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z", "items": []}, "items"),
        (
            {
                "name": "x",
                "starts_at": "2030-01-01T00:00:00Z",
                "ends_at": "2030-01-02T00:00:00Z",
                "items": [{"product": 999999, "percent_off": 10}],
            },
            "items",
        ),
        (
            {
                "name": "x",
                "starts_at": "2030-01-01T00:00:00Z",
                "ends_at": "2030-01-02T00:00:00Z",
                "items": [{"product": "P", "percent_off": 100}],
            },
            "items",
        ),
        (
            {
                "name": "x",
                "starts_at": "2030-01-01T00:00:00Z",
                "ends_at": "2030-01-02T00:00:00Z",
                "per_member_limit": 0,
                "items": [],
            },
            "per_member_limit",
        ),
    ],
)
def test_console_refuses_bad_discounts_field_by_field(alpha: Any, body: dict[str, Any], field: str) -> None:
    response = post(owner_client(alpha), "/api/v1/console/marketing/discounts/", body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    with in_shop(alpha):
        assert not LimitedDiscount.objects.exists()


def test_console_discount_item_rules(alpha: Any) -> None:
    tea, other = product(alpha, price=10000), product(alpha, price=5000)
    staff = owner_client(alpha)
    window = {"name": "x", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"}
    for items in [
        [{"product": tea.product_id, "sku": other.pk, "percent_off": 10}],  # not its SKU
        [{"product": tea.product_id, "percent_off": 10, "price": 5000}],  # both rules
        [{"product": tea.product_id}],  # no rule
        [{"product": tea.product_id, "sku": tea.pk, "price": 10000}],  # not a discount
        [{"product": tea.product_id, "percent_off": 10}, {"product": tea.product_id, "percent_off": 20}],
    ]:
        response = post(staff, "/api/v1/console/marketing/discounts/", {**window, "items": items})
        assert response.status_code == 400 and "items" in response.json(), items
    made = post(
        staff,
        "/api/v1/console/marketing/discounts/",
        {**window, "items": [{"product": tea.product_id, "sku": tea.pk, "price": 8800}]},
    )
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    changed = patch(
        staff,
        f"/api/v1/console/marketing/discounts/{pk}/",
        {"items": [{"product": other.product_id, "percent_off": 30}]},
    )
    assert changed.status_code == 200 and changed.json()["items"] == [
        {"product": other.product_id, "sku": None, "percent_off": 30, "price": None}
    ]
    assert (
        patch(staff, f"/api/v1/console/marketing/discounts/{pk}/", {"ends_at": "2029-01-01T00:00:00Z"}).status_code
        == 400
    )
    assert staff.delete(f"/api/v1/console/marketing/discounts/{pk}/").status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "amount", "tiers": [{"threshold": 100, "value": 10}]}, "name"),
        ({"name": "x", "kind": "gift", "tiers": [{"threshold": 100, "value": 10}]}, "kind"),
        ({"name": "x", "kind": "amount", "tiers": []}, "tiers"),
        ({"name": "x", "kind": "amount", "tiers": [{"threshold": 100, "value": 200}]}, "tiers"),
        ({"name": "x", "kind": "percent", "tiers": [{"threshold": 100, "value": 100}]}, "tiers"),
        (
            {"name": "x", "kind": "amount", "tiers": [{"threshold": 200, "value": 10}, {"threshold": 100, "value": 5}]},
            "tiers",
        ),
        ({"name": "x", "kind": "amount", "tiers": [{"threshold": "100", "value": 10}]}, "tiers"),
        (
            {"name": "x", "kind": "amount", "tiers": [{"threshold": 100, "value": 10}], "product_ids": [999999]},
            "product_ids",
        ),
    ],
)
def test_console_refuses_bad_full_reductions_field_by_field(alpha: Any, body: dict[str, Any], field: str) -> None:
    window = {"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"}
    response = post(owner_client(alpha), "/api/v1/console/marketing/reductions/", {**window, **body})
    assert response.status_code == 400, response.content
    assert field in response.json()
    with in_shop(alpha):
        assert not FullReduction.objects.exists()


def test_console_pages_create_and_end(alpha: Any) -> None:
    tea = product(alpha, price=10000)
    staff = owner_client(alpha)
    assert staff.get("/console/marketing/").status_code == 200
    for url in (
        "/console/marketing/coupons/new/",
        "/console/marketing/discounts/new/",
        "/console/marketing/reductions/new/",
    ):
        assert staff.get(url).status_code == 200
    bad = staff.post("/console/marketing/coupons/new/", {"name": "", "kind": "fixed", "amount": "abc"})
    assert bad.status_code == 400
    made = staff.post(
        "/console/marketing/coupons/new/",
        {
            "name": "十元券",
            "kind": "fixed",
            "amount": "10",
            "min_spend": "100",
            "valid_days": "7",
            "per_member_limit": "1",
            "claimable": "on",
        },
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    made = staff.post(
        "/console/marketing/discounts/new/",
        {
            "name": "周末特价",
            "starts_at": "2030-01-01T10:00",
            "ends_at": "2030-01-02T10:00",
            "percent_off": "15",
            "products": [str(tea.product_id)],
        },
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    made = staff.post(
        "/console/marketing/reductions/new/",
        {
            "name": "满100减10",
            "kind": "amount",
            "tiers": "100: 10\n200: 30",
            "starts_at": "2030-01-01T10:00",
            "ends_at": "2030-01-02T10:00",
        },
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    with in_shop(alpha):
        from shop.marketing.models import CouponTemplate

        coupon = CouponTemplate.objects.get()
        assert (coupon.amount, coupon.min_spend) == (1000, 10000)
        assert FullReduction.objects.get().tiers == [
            {"threshold": 10000, "value": 1000},
            {"threshold": 20000, "value": 3000},
        ]
        sale = LimitedDiscount.objects.get()
    page = staff.get("/console/marketing/").content.decode()
    assert "十元券" in page and "周末特价" in page and "满100减10" in page
    assert staff.post(f"/console/marketing/discounts/{sale.pk}/end/").status_code == 302
    with in_shop(alpha):
        assert LimitedDiscount.objects.get().ended_at is not None


def test_the_buyer_sees_an_activity_that_started_since_the_cart_was_filled(alpha: Any, buyer: Any) -> None:
    tea = product(alpha, price=10000)
    client = member_client(alpha, buyer)
    assert post(client, "/api/v1/cart/items/", {"sku": tea.pk, "quantity": 1}).status_code == 201
    discount(alpha, [{"product": tea.product_id, "percent_off": 30}])
    q = post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup"}).json()
    assert q["payable"] == 7000
    assert q["changes"] == [{"sku": tea.pk, "code": "activity_started", "was": 10000, "now": 7000}]
