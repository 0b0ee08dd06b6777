"""Coupons end to end through HTTP: claimed in the claim centre, applied at checkout and
order creation (each line carries its coupon share), held by the unpaid order, used when
it is paid, back to unused when it is cancelled; limits; bad input; registration gifts;
issuing by the merchant; the console's validation and feature gate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from shop.catalogue.models import Sku
from shop.checkout.models import ShippingTemplate
from shop.marketing.models import CouponTemplate, MemberCoupon
from shop.orders.models import Order
from tests.conftest import in_shop, owner_client
from tests.marketing.helpers import coupon_state, coupon_template, give_coupon, patch, post
from tests.orders.conftest import member, member_client, product

pytestmark = pytest.mark.django_db


def _address(tenant: Any, someone: Any) -> int:
    with in_shop(tenant):
        return int(someone.addresses.get().pk)


def _fill_cart(client: Any, *lines: tuple[Any, int]) -> None:
    for sku, quantity in lines:
        assert post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": quantity}).status_code == 201


def test_a_claimed_coupon_is_shared_over_the_lines_held_used_and_never_reused(
    alpha: Any, buyer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tea, cup = product(alpha, price=9900, name="Tea"), product(alpha, price=3333, name="Cup")
    with in_shop(alpha):
        ShippingTemplate.objects.create(name="默认", default_fee=800, is_default=True)
    template = coupon_template(alpha, name="满100减20", amount=2000, min_spend=10000, total_quantity=5)
    client = member_client(alpha, buyer)

    centre = client.get("/api/v1/marketing/coupons/").json()
    offered = next(c for c in centre if c["id"] == template.pk)
    assert (offered["remaining"], offered["claimed"], offered["can_claim"]) == (5, 0, True)
    claimed = post(client, f"/api/v1/marketing/coupons/{template.pk}/claim/")
    assert claimed.status_code == 201, claimed.content
    coupon = claimed.json()["id"]
    assert claimed.json()["state"] == "unused"

    _fill_cart(client, (tea, 1), (cup, 1))
    address = _address(alpha, buyer)
    quote = post(client, "/api/v1/checkout/quote/", {"fulfilment": "delivery", "address": address, "coupon": coupon})
    assert quote.status_code == 200, quote.content
    q = quote.json()
    assert q["coupon"] == {"id": coupon, "applied": True, "problem": None}
    assert dict(map(tuple, q["steps"]))["coupon"] == -2000
    assert q["payable"] == 9900 + 3333 - 2000 + 800
    usable = client.get("/api/v1/marketing/my-coupons/usable/").json()
    assert usable["coupons"][0]["applies"] and usable["coupons"][0]["saves"] == 2000

    placed = post(
        client,
        "/api/v1/orders/",
        {"fulfilment": "delivery", "address": address, "coupon": coupon, "expected_payable": q["payable"]},
    )
    assert placed.status_code == 201, placed.content
    order = placed.json()
    shares = [line["coupon_share"] for line in order["lines"]]
    assert sum(shares) == 2000 and all(s > 0 for s in shares)
    assert sum(line["amount_paid"] for line in order["lines"]) == order["payable"] - order["shipping_fee"]
    assert order["discount_total"] == 2000
    assert coupon_state(alpha, coupon) == "locked"
    assert [c["id"] for c in client.get("/api/v1/marketing/my-coupons/?state=locked").json()["results"]] == [coupon]

    # the same coupon in a second order: refused on the field, nothing written
    _fill_cart(client, (tea, 1))
    again = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address, "coupon": coupon})
    assert again.status_code == 400 and "coupon" in again.json()
    with in_shop(alpha):
        assert Order.objects.filter(member=buyer).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        paid = post(
            owner_client(alpha), f"/api/v1/console/orders/{order['id']}/mark-paid/", {"amount": order["payable"]}
        )
    assert paid.status_code == 200, paid.content
    assert coupon_state(alpha, coupon) == "used"
    assert [c["id"] for c in client.get("/api/v1/marketing/my-coupons/?state=used").json()["results"]] == [coupon]


def test_cancelling_the_unpaid_order_gives_the_coupon_back(
    alpha: Any, buyer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tea = product(alpha, price=20000)
    coupon = give_coupon(alpha, coupon_template(alpha), buyer)
    client = member_client(alpha, buyer)
    address = _address(alpha, buyer)
    _fill_cart(client, (tea, 1))
    order = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address, "coupon": coupon}).json()
    assert order["payable"] == 18000 and coupon_state(alpha, coupon) == "locked"
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, f"/api/v1/orders/{order['id']}/cancel/").status_code == 200
    assert coupon_state(alpha, coupon) == "unused"
    # and it can go into the next order
    _fill_cart(client, (tea, 1))
    second = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address, "coupon": coupon})
    assert second.status_code == 201 and second.json()["payable"] == 18000


def test_a_coupon_that_does_not_apply_is_a_field_error_and_nothing_is_written(alpha: Any, buyer: Any) -> None:
    tea = product(alpha, price=5000, stock=3)
    other = member(alpha, "13900139000")
    small_order = give_coupon(alpha, coupon_template(alpha, min_spend=10000), buyer)
    not_mine = give_coupon(alpha, coupon_template(alpha, name="other's"), other)
    elsewhere = coupon_template(alpha, name="only cups", scope="products", product_ids=[product(alpha).product_id])
    scoped = give_coupon(alpha, elsewhere, buyer)
    client = member_client(alpha, buyer)
    address = _address(alpha, buyer)
    _fill_cart(client, (tea, 1))

    for coupon, words in [
        (small_order, "larger order"),
        (not_mine, "Choose one of your coupons"),
        (scoped, "does not cover"),
        (999999, "Choose one of your coupons"),
    ]:
        english = {"HTTP_ACCEPT_LANGUAGE": "en"}
        placed = post(
            client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address, "coupon": coupon}, **english
        )
        assert placed.status_code == 400, placed.content
        assert list(placed.json()) == ["coupon"]
        client.cookies["django_language"] = "en"
        placed = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address, "coupon": coupon})
        assert words in placed.json()["coupon"][0]
    assert (
        post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address, "coupon": "x"}).status_code
        == 400
    )
    # the quote prices without a coupon that does not apply and says why
    q = post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup", "coupon": small_order}).json()
    assert q["payable"] == 5000 and q["coupon"]["problem"] == "min_spend"
    assert any(c["code"] == "coupon" and c["reason"] == "min_spend" for c in q["changes"])
    assert post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup", "coupon": not_mine}).status_code == 400
    with in_shop(alpha):
        assert not Order.objects.filter(member=buyer).exists()
        assert Sku.objects.get(pk=tea.pk).stock == 3
        assert set(MemberCoupon.objects.values_list("status", flat=True)) == {"unused"}


def test_expired_and_not_yet_valid_coupons(alpha: Any, buyer: Any) -> None:
    tea = product(alpha, price=20000)
    later = timezone.now() + timedelta(days=2)
    future = give_coupon(
        alpha,
        coupon_template(
            alpha, valid_days=None, valid_from=later.isoformat(), valid_until=(later + timedelta(days=1)).isoformat()
        ),
        buyer,
    )
    week = give_coupon(alpha, coupon_template(alpha, name="a week"), buyer)
    client = member_client(alpha, buyer)
    client.cookies["django_language"] = "en"
    _fill_cart(client, (tea, 1))
    refused = post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup", "coupon": future})
    assert refused.status_code == 400 and "not valid yet" in refused.json()["coupon"][0]
    in_eight_days = timezone.now() + timedelta(days=8)
    with mock.patch("django.utils.timezone.now", return_value=in_eight_days):
        assert coupon_state(alpha, week) == "expired"
        assert week in [c["id"] for c in client.get("/api/v1/marketing/my-coupons/?state=expired").json()["results"]]
        assert [c["id"] for c in client.get("/api/v1/marketing/my-coupons/?state=unused").json()["results"]] == []
        refused = post(client, "/api/v1/checkout/quote/", {"fulfilment": "pickup", "coupon": week})
        assert refused.status_code == 400 and "expired" in refused.json()["coupon"][0]
    assert client.get("/api/v1/marketing/my-coupons/?state=bogus").status_code == 400


def test_claims_stop_at_the_total_and_at_the_per_member_limit(alpha: Any, buyer: Any) -> None:
    template = coupon_template(alpha, total_quantity=2, per_member_limit=1)
    first, second = member_client(alpha, buyer), member_client(alpha, member(alpha, "13900139001"))
    third = member_client(alpha, member(alpha, "13900139002"))
    for c in (first, second, third):
        c.cookies["django_language"] = "en"
    url = f"/api/v1/marketing/coupons/{template.pk}/claim/"
    assert post(first, url).status_code == 201
    twice = post(first, url)
    assert twice.status_code == 400 and "as many of this coupon" in twice.json()["coupon"][0]
    assert post(second, url).status_code == 201
    gone = post(third, url)
    assert gone.status_code == 400 and "gone" in gone.json()["coupon"][0]
    assert template.pk not in [c["id"] for c in first.get("/api/v1/marketing/coupons/").json()]
    with in_shop(alpha):
        assert CouponTemplate.objects.get(pk=template.pk).issued == 2
        assert MemberCoupon.objects.filter(template=template).count() == 2
    # not logged in: the centre is public, claiming is not
    from tests.conftest import shop_client

    assert shop_client(alpha).get("/api/v1/marketing/coupons/").status_code == 200
    assert post(shop_client(alpha), url).status_code in (401, 403)


def test_ended_coupons_are_not_offered_and_distributor_codes_are_claimed_by_code(alpha: Any, buyer: Any) -> None:
    from shop.marketing import services

    ended = coupon_template(alpha, name="ended")
    coded = coupon_template(alpha, name="from Li", distributor_code="LI2026")
    staff = owner_client(alpha)
    assert post(staff, f"/api/v1/console/marketing/coupons/{ended.pk}/end/").json()["ended_at"]
    client = member_client(alpha, buyer)
    ids = [c["id"] for c in client.get("/api/v1/marketing/coupons/").json()]
    assert ended.pk not in ids and coded.pk not in ids  # code coupons are not in the centre
    client.cookies["django_language"] = "en"
    late = post(client, f"/api/v1/marketing/coupons/{ended.pk}/claim/")
    assert late.status_code == 400 and "no longer offered" in late.json()["coupon"][0]
    heard: list[dict[str, Any]] = []

    def listen(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    services.distributor_code_claimed.connect(listen)
    try:
        assert post(client, "/api/v1/marketing/coupons/claim-code/", {"code": "nope"}).status_code == 400
        with mock.patch("shop.events.transaction.on_commit", side_effect=lambda f, robust=False: f()):
            made = post(client, "/api/v1/marketing/coupons/claim-code/", {"code": "li2026"})
    finally:
        services.distributor_code_claimed.disconnect(listen)
    assert made.status_code == 201 and made.json()["source"] == "code"
    assert [(h["member"].pk, h["code"]) for h in heard] == [(buyer.pk, "LI2026")]


def test_registration_gifts(alpha: Any) -> None:
    gift = coupon_template(alpha, name="新人礼", on_registration=True, claimable=False, total_quantity=1)
    first = member(alpha, "13700137000")
    second = member(alpha, "13700137001")  # none left: registration still works
    with in_shop(alpha):
        assert list(MemberCoupon.objects.filter(template=gift).values_list("member_id", "source")) == [
            (first.pk, "registration")
        ]
        assert not MemberCoupon.objects.filter(member=second).exists()


def test_the_merchant_issues_coupons_to_chosen_members_all_or_none(alpha: Any, buyer: Any) -> None:
    other = member(alpha, "13600136000")
    template = coupon_template(alpha, total_quantity=2, claimable=False)
    staff = owner_client(alpha)
    url = f"/api/v1/console/marketing/coupons/{template.pk}/issue/"
    assert post(staff, url, {"members": []}).status_code == 400
    assert post(staff, url, {"members": ["x"]}).status_code == 400
    assert "members" in post(staff, url, {"members": [buyer.pk, 999999]}).json()
    too_many = post(staff, url, {"members": [buyer.pk, other.pk, buyer.pk]})  # 3 > 2 left
    assert too_many.status_code == 400 and "members" in too_many.json()
    with in_shop(alpha):
        assert not MemberCoupon.objects.filter(template=template).exists()  # none of them
        assert CouponTemplate.objects.get(pk=template.pk).issued == 0
    issued = post(staff, url, {"members": [buyer.pk, other.pk]})
    assert issued.status_code == 201 and issued.json()["issued"] == 2
    with in_shop(alpha):
        assert sorted(MemberCoupon.objects.filter(template=template).values_list("member_id", flat=True)) == sorted(
            [buyer.pk, other.pk]
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "fixed", "amount": 100, "valid_days": 3}, "name"),
        ({"name": "x", "kind": "cashback", "valid_days": 3}, "kind"),
        ({"name": "x", "kind": "fixed", "valid_days": 3}, "amount"),
        ({"name": "x", "kind": "fixed", "amount": -5, "valid_days": 3}, "amount"),
        ({"name": "x", "kind": "fixed", "amount": True, "valid_days": 3}, "amount"),
        ({"name": "x", "kind": "fixed", "amount": 3000, "min_spend": 1000, "valid_days": 3}, "amount"),
        ({"name": "x", "kind": "percent", "percent_off": 100, "valid_days": 3}, "percent_off"),
        ({"name": "x", "kind": "percent", "valid_days": 3}, "percent_off"),
        ({"name": "x", "kind": "free_shipping"}, "valid_until"),
        ({"name": "x", "kind": "free_shipping", "valid_days": 3, "valid_until": "2030-01-01T00:00:00Z"}, "valid_days"),
        ({"name": "x", "kind": "free_shipping", "valid_until": "tomorrow"}, "valid_until"),
        ({"name": "x", "kind": "free_shipping", "valid_days": 3, "scope": "products"}, "product_ids"),
        (
            {"name": "x", "kind": "free_shipping", "valid_days": 3, "scope": "products", "product_ids": [999999]},
            "product_ids",
        ),
        ({"name": "x", "kind": "free_shipping", "valid_days": 3, "category_ids": "all"}, "category_ids"),
        ({"name": "x", "kind": "free_shipping", "valid_days": 3, "total_quantity": 0}, "total_quantity"),
        ({"name": "x", "kind": "free_shipping", "valid_days": 3, "per_member_limit": 0}, "per_member_limit"),
        ({"name": "x" * 61, "kind": "free_shipping", "valid_days": 3}, "name"),
        ({"name": "x", "kind": "free_shipping", "valid_days": 3, "distributor_code": "李 1"}, "distributor_code"),
    ],
)
def test_console_refuses_bad_coupon_templates_field_by_field(alpha: Any, body: dict[str, Any], field: str) -> None:
    response = post(owner_client(alpha), "/api/v1/console/marketing/coupons/", body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    with in_shop(alpha):
        assert not CouponTemplate.objects.exists()


def test_console_coupon_crud_and_what_cannot_change_once_issued(alpha: Any, buyer: Any) -> None:
    staff = owner_client(alpha)
    made = post(
        staff,
        "/api/v1/console/marketing/coupons/",
        {"name": "九折券", "kind": "percent", "percent_off": 10, "max_discount": 5000, "valid_days": 30},
    )
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    assert patch(staff, f"/api/v1/console/marketing/coupons/{pk}/", {"percent_off": 20}).json()["percent_off"] == 20
    with in_shop(alpha):
        template = CouponTemplate.objects.get(pk=pk)
    give_coupon(alpha, template, buyer)
    fixed = patch(staff, f"/api/v1/console/marketing/coupons/{pk}/", {"percent_off": 50})
    assert fixed.status_code == 400 and "percent_off" in fixed.json()
    assert patch(staff, f"/api/v1/console/marketing/coupons/{pk}/", {"total_quantity": 0}).status_code == 400
    assert patch(staff, f"/api/v1/console/marketing/coupons/{pk}/", {"name": "八折券"}).json()["name"] == "八折券"
    assert staff.delete(f"/api/v1/console/marketing/coupons/{pk}/").status_code == 400  # members hold it
    listed = staff.get("/api/v1/console/marketing/coupons/").json()["results"]
    assert [(c["id"], c["issued"], c["percent_off"]) for c in listed] == [(pk, 1, 20)]


def test_the_coupons_feature_gate(alpha: Any) -> None:
    from tenants.services import tenant_set_feature_override

    tenant_set_feature_override(alpha, "coupons", False, actor=None, reason="test")
    staff = owner_client(alpha)
    denied = staff.get("/api/v1/console/marketing/coupons/")
    assert denied.status_code == 403 and denied.json()["feature"] == "coupons"
    assert staff.get("/api/v1/console/marketing/discounts/").status_code == 200
    assert staff.get("/console/marketing/coupons/new/").status_code == 403


def test_members_never_reach_the_console_api(alpha: Any, buyer: Any) -> None:
    client = member_client(alpha, buyer)
    assert client.get("/api/v1/console/marketing/coupons/").status_code in (401, 403)
    assert post(client, "/api/v1/console/marketing/coupons/", {"name": "x"}).status_code in (401, 403)


def test_a_free_shipping_coupon_zeroes_the_fee_and_keeps_the_goods_price(alpha: Any, buyer: Any) -> None:
    tea = product(alpha, price=3000)
    with in_shop(alpha):
        ShippingTemplate.objects.create(name="默认", default_fee=1200, free_over=50000, is_default=True)
    coupon = give_coupon(alpha, coupon_template(alpha, kind="free_shipping", amount=0, min_spend=2000), buyer)
    client = member_client(alpha, buyer)
    _fill_cart(client, (tea, 1))
    placed = post(
        client, "/api/v1/orders/", {"fulfilment": "delivery", "address": _address(alpha, buyer), "coupon": coupon}
    )
    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert (order["shipping_fee"], order["payable"], order["discount_total"]) == (0, 3000, 0)
    assert order["lines"][0]["amount_paid"] == 3000 and order["lines"][0]["coupon_share"] == 0


def test_the_product_page_shows_the_coupons_that_apply_to_the_product(alpha: Any, buyer: Any) -> None:
    from shop.catalogue import services as catalogue

    tea, cup = product(alpha, name="Tea"), product(alpha, name="Cup")
    with in_shop(alpha):
        drinks = catalogue.category_save(name="Drinks")
        green = catalogue.category_save(name="Green", parent=drinks)
        type(tea.product).objects.filter(pk=tea.product_id).update(category=green)
    everything = coupon_template(alpha, name="all but cups", excluded_product_ids=[cup.product_id])
    drink = coupon_template(alpha, name="drinks", scope="categories", category_ids=[drinks.pk])
    cups = coupon_template(alpha, name="cups", scope="products", product_ids=[cup.product_id])
    client = member_client(alpha, buyer)

    def offered(product_id: Any) -> list[int]:
        response = client.get(f"/api/v1/marketing/coupons/?product={product_id}")
        assert response.status_code == 200, response.content
        return sorted(c["id"] for c in response.json())

    assert offered(tea.product_id) == sorted([everything.pk, drink.pk])  # its category is under Drinks
    assert offered(cup.product_id) == [cups.pk]
    assert client.get("/api/v1/marketing/coupons/?product=abc").status_code == 400
