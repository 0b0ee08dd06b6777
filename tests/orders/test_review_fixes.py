"""Regressions found in review: stock never undone by a product edit, pickup codes,
second payments, idempotency-key reuse, hostile input, regional shipping, order caps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shop.catalogue.models import Sku
from shop.checkout.models import ShippingTemplate
from shop.checkout.services import shipping_fee
from shop.models import ShopSettings
from shop.orders import services
from shop.orders.models import Order
from tests.conftest import in_shop, owner_client, shop_client
from tests.orders.conftest import member, member_client, product

pytestmark = pytest.mark.django_db


def post(client: Any, url: str, data: Any, **extra: Any) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json", **extra)


def test_editing_a_product_never_undoes_what_orders_took(alpha: Any) -> None:
    sku = product(alpha, stock=5)
    buyer = member(alpha)
    with in_shop(alpha):
        services.order_create(
            buyer, items=[(sku.pk, 3, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
    staff = owner_client(alpha)
    body = {"name": "Tea (renamed)", "skus": [{"spec": {}, "price": 9900, "stock": 5}]}  # the stale form said 5
    assert (
        staff.put(
            f"/api/v1/console/products/{sku.product_id}/", data=json.dumps(body), content_type="application/json"
        ).status_code
        == 200
    )
    with in_shop(alpha):
        assert Sku.objects.get(pk=sku.pk).stock == 2  # untouched without the stock it was changed from
    stale = {"name": "Tea", "skus": [{"spec": {}, "price": 9900, "stock": 50, "stock_expected": 5}]}
    refused = staff.put(
        f"/api/v1/console/products/{sku.product_id}/", data=json.dumps(stale), content_type="application/json"
    )
    assert refused.status_code == 400 and "skus" in refused.json()
    fresh = {"name": "Tea", "skus": [{"spec": {}, "price": 9900, "stock": 50, "stock_expected": 2}]}
    assert (
        staff.put(
            f"/api/v1/console/products/{sku.product_id}/", data=json.dumps(fresh), content_type="application/json"
        ).status_code
        == 200
    )
    with in_shop(alpha):
        assert Sku.objects.get(pk=sku.pk).stock == 50


def test_stock_is_adjusted_by_deltas_or_compare_and_set(alpha: Any) -> None:
    sku = product(alpha, stock=5)
    staff = owner_client(alpha)
    url = f"/api/v1/console/skus/{sku.pk}/stock/"
    assert post(staff, url, {"adjust": -6}).status_code == 400  # never below zero
    assert post(staff, url, {"adjust": 3}).json()["stock"] == 8
    assert post(staff, url, {"stock": 1, "expected": 5}).status_code == 400  # it is 8 now
    assert post(staff, url, {"stock": 1, "expected": 8}).json()["stock"] == 1
    assert post(staff, url, {"stock": 1}).status_code == 400


def test_a_pickup_order_gets_its_code_when_paid_and_a_blank_code_picks_nothing_up(alpha: Any) -> None:
    from shop.stores.models import Store

    sku = product(alpha)
    buyer = member(alpha)
    with in_shop(alpha):
        store = Store.objects.create(
            name="店",
            phone="0571-12345678",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address="1 号",
            pickup_enabled=True,
            is_active=True,
        )
        order = services.order_create(buyer, items=[(sku.pk, 1, None)], fulfilment="pickup", store_id=store.pk)
        paid, outcome = services.order_mark_paid(order, amount=order.payable, actor="test", reference="pi_1")
        assert outcome == "paid" and len(paid.pickup_code) == 8
        services.order_ready_for_pickup(paid, actor="test")
        for blank in ("", "   ", "²²²²²²²²"):
            with pytest.raises(services.ValidationError):
                services.order_verify_pickup(blank, actor="test")
        assert services.order_verify_pickup(paid.pickup_code, actor="test").status == "picked_up"


def test_a_revived_pickup_order_gets_a_code_too(alpha: Any) -> None:
    from shop.stores.models import Store

    sku = product(alpha)
    buyer = member(alpha)
    with in_shop(alpha):
        ShopSettings.objects.update_or_create(pk=1, defaults={"late_payment": "revive"})
        store = Store.objects.create(
            name="店",
            phone="0571-12345678",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address="1 号",
            pickup_enabled=True,
            is_active=True,
        )
        order = services.order_create(buyer, items=[(sku.pk, 1, None)], fulfilment="pickup", store_id=store.pk)
        services.order_cancel(order, actor="system", reason="unpaid timeout")
        revived, outcome = services.order_mark_paid(order, amount=order.payable, actor="stripe", reference="pi_late")
        assert outcome == "revived" and len(revived.pickup_code) == 8


def test_a_second_payment_for_a_paid_order_is_reported_for_refund(alpha: Any) -> None:
    sku = product(alpha)
    buyer = member(alpha)
    with in_shop(alpha):
        order = services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        assert services.order_mark_paid(order, amount=order.payable, actor="stripe", reference="pi_A")[1] == "paid"
        assert (
            services.order_mark_paid(order, amount=order.payable, actor="stripe", reference="pi_A")[1] == "already_paid"
        )
        assert (
            services.order_mark_paid(order, amount=order.payable, actor="stripe", reference="pi_B")[1]
            == "duplicate_payment"
        )


def test_a_reused_idempotency_key_with_another_request_is_refused(alpha: Any) -> None:
    sku = product(alpha)
    buyer = member(alpha)
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1})
    with in_shop(alpha):
        address = buyer.addresses.get().pk
    assert (
        post(
            client,
            "/api/v1/orders/",
            {"fulfilment": "delivery", "address": address},
            HTTP_IDEMPOTENCY_KEY="key-000000001",
        ).status_code
        == 201
    )
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 2})
    again = post(
        client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address}, HTTP_IDEMPOTENCY_KEY="key-000000001"
    )
    assert again.status_code == 422 and again.json()["code"] == "idempotency_mismatch"
    with in_shop(alpha):
        assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", "/api/v1/catalogue/products/?q=a%00b", None),
        ("post", "/api/v1/members/login/", {"login": "a\u0000b", "password": "x"}),
        ("post", "/account/login/", "login=a%00b&password=x"),
    ],
)
def test_nul_characters_are_a_clear_400_not_a_500(alpha: Any, method: str, url: str, body: Any) -> None:
    client = shop_client(alpha)
    if method == "get":
        response = client.get(url)
    elif isinstance(body, str):
        response = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
    else:
        response = post(client, url, body)
    assert response.status_code == 400


def test_unicode_digits_are_not_ids(alpha: Any) -> None:
    buyer = member(alpha)
    assert shop_client(alpha).get("/api/v1/catalogue/products/?category=²").status_code == 400
    assert post(member_client(alpha, buyer), "/api/v1/cart/items/", {"sku": "²", "quantity": 1}).status_code == 400
    quote = post(member_client(alpha, buyer), "/api/v1/checkout/quote/", {"fulfilment": "delivery", "address": "²"})
    assert quote.status_code == 400


def test_regional_rules_match_the_provinces_full_names(alpha: Any) -> None:
    with in_shop(alpha):
        ShippingTemplate.objects.create(
            name="默认",
            default_fee=800,
            is_default=True,
            rules=[{"provinces": ["新疆"], "fee": None}, {"provinces": ["西藏自治区"], "fee": 3000}],
        )
        assert shipping_fee(100, "新疆维吾尔自治区") is None
        assert shipping_fee(100, "西藏") == 3000
        assert shipping_fee(100, "浙江省") == 800


def test_an_order_too_large_for_one_payment_is_refused(alpha: Any) -> None:
    sku = product(alpha, stock=999, price=100_000_000)  # ¥1,000,000 each
    buyer = member(alpha)
    with in_shop(alpha), pytest.raises(services.OrderRefused) as exc:
        services.order_create(
            buyer, items=[(sku.pk, 11, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
    assert exc.value.code == "too_large"


def test_an_ordered_product_cannot_be_deleted_only_taken_off_sale(alpha: Any) -> None:
    sku = product(alpha)
    buyer = member(alpha)
    with in_shop(alpha):
        services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
    staff = owner_client(alpha)
    post(staff, "/api/v1/console/products/status/", {"ids": [sku.product_id], "status": "off_sale"})
    assert staff.delete(f"/api/v1/console/products/{sku.product_id}/").status_code == 400


def test_updating_an_address_from_a_stale_copy_keeps_the_new_default(alpha: Any) -> None:
    from shop.members import services as members
    from shop.members.models import Address

    buyer = member(alpha)  # its first address is the default
    with in_shop(alpha):
        first = buyer.addresses.get()
        second = members.address_create(
            buyer,
            recipient="李四",
            phone="13800138001",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="2 号",
        )
        stale = Address.objects.get(pk=first.pk)  # loaded while it was still the default
        members.address_set_default(second)  # meanwhile, another request
        members.address_update(stale, recipient="王五")
        assert Address.objects.get(pk=second.pk).is_default
        assert Address.objects.get(pk=first.pk).recipient == "王五" and not Address.objects.get(pk=first.pk).is_default


def test_the_console_product_form_keeps_live_stock(alpha: Any) -> None:
    sku = product(alpha, stock=5)
    buyer = member(alpha)
    staff = owner_client(alpha)
    form = staff.get(f"/console/catalogue/products/{sku.product_id}/").content.decode()
    assert 'name="stock_seen-"' in form
    with in_shop(alpha):
        services.order_create(
            buyer, items=[(sku.pk, 2, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
    # the merchant saves the form they opened before the order, changing only the name
    response = staff.post(
        f"/console/catalogue/products/{sku.product_id}/",
        {"name": "Tea 2", "spec_lines": "", "price-": "99", "stock-": "5", "stock_seen-": "5"},
    )
    assert response.status_code == 302
    with in_shop(alpha):
        assert Sku.objects.get(pk=sku.pk).stock == 3
