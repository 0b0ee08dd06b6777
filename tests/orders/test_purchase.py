"""The whole purchase path through HTTP, for delivery and for pickup; idempotency; what
the buyer sees when a price or stock changed; stock taken and returned; timers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from shop.catalogue.models import Sku
from shop.checkout.models import ShippingTemplate
from shop.models import ShopSettings
from shop.orders import services
from shop.orders.models import Order
from tests.conftest import in_shop, owner_client
from tests.orders.conftest import member, member_client, product

pytestmark = pytest.mark.django_db


def post(client: Any, url: str, data: Any = None, **extra: Any) -> Any:
    return client.post(url, data=json.dumps(data or {}), content_type="application/json", **extra)


def address_of(tenant: Any, someone: Any) -> int:
    with in_shop(tenant):
        return int(someone.addresses.get().pk)


def test_delivery_purchase_from_cart_to_completion(alpha: Any, buyer: Any) -> None:
    sku = product(alpha, stock=5, price=9900)
    with in_shop(alpha):
        ShippingTemplate.objects.create(
            name="默认",
            default_fee=1000,
            free_over=50000,
            is_default=True,
            rules=[{"provinces": ["新疆"], "fee": 3000}],
        )
    client = member_client(alpha, buyer)
    assert post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 2}).status_code == 201
    address = address_of(alpha, buyer)
    quote = post(client, "/api/v1/checkout/quote/", {"fulfilment": "delivery", "address": address}).json()
    assert (quote["goods_total"], quote["shipping"], quote["payable"]) == (19800, 1000, 20800)
    placed = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address, "expected_payable": 20800})
    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert order["status"] == "unpaid" and order["payable"] == 20800
    assert order["lines"][0]["amount_paid"] == 19800  # the commission base: goods only, no shipping
    assert order["address"]["city"] == "杭州市"
    with in_shop(alpha):
        assert Sku.objects.get(pk=sku.pk).stock == 3  # taken at order creation
    assert client.get("/api/v1/cart/").json()["items"] == []  # ordered items leave the cart

    staff = owner_client(alpha)
    assert post(staff, f"/api/v1/console/orders/{order['id']}/mark-paid/", {"amount": 100}).status_code == 400
    assert post(staff, f"/api/v1/console/orders/{order['id']}/mark-paid/", {"amount": 20800}).json()["status"] == "paid"
    assert (
        post(
            staff, f"/api/v1/console/orders/{order['id']}/ship/", {"carrier": "顺丰", "tracking_number": ""}
        ).status_code
        == 400
    )
    shipped = post(
        staff, f"/api/v1/console/orders/{order['id']}/ship/", {"carrier": "顺丰", "tracking_number": "SF123"}
    ).json()
    assert shipped["status"] == "shipped" and shipped["tracking_number"] == "SF123"
    assert post(client, f"/api/v1/orders/{order['id']}/cancel/").status_code == 400  # too late to cancel
    assert post(client, f"/api/v1/orders/{order['id']}/confirm/").json()["status"] == "delivered"
    with in_shop(alpha):
        counts = services.run_timers(timezone.now() + timedelta(days=8))
        assert counts["completed"] == 1
    final = client.get(f"/api/v1/orders/{order['id']}/").json()
    assert final["status"] == "completed"
    assert [(e["from_status"], e["to_status"]) for e in final["log"]] == [
        ("", "unpaid"),
        ("unpaid", "paid"),
        ("paid", "shipped"),
        ("shipped", "delivered"),
        ("delivered", "completed"),
    ]
    assert final["log"][1]["actor"].startswith("staff:") and final["log"][4]["actor"] == "system"


def test_pickup_purchase_with_a_verification_code(alpha: Any, buyer: Any) -> None:
    from shop.stores.models import Store

    sku = product(alpha, stock=2)
    with in_shop(alpha):
        store = Store.objects.create(
            name="西湖店",
            phone="0571-12345678",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address="北山路 1 号",
            pickup_enabled=True,
            is_active=True,
        )
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1})
    order = post(client, "/api/v1/orders/", {"fulfilment": "pickup", "store": store.pk}).json()
    assert order["shipping_fee"] == 0 and order["store"]["name"] == "西湖店"
    staff = owner_client(alpha)
    post(staff, f"/api/v1/console/orders/{order['id']}/mark-paid/", {"amount": order["payable"]})
    assert (
        post(staff, f"/api/v1/console/orders/{order['id']}/ship/", {"carrier": "x", "tracking_number": "y"}).status_code
        == 400
    )
    ready = post(staff, f"/api/v1/console/orders/{order['id']}/ready/").json()
    assert ready["status"] == "ready_for_pickup"
    code = client.get(f"/api/v1/orders/{order['id']}/").json()["pickup_code"]
    assert len(code) == 8
    assert (
        post(
            staff, "/api/v1/console/orders/verify-pickup/", {"code": "00000000" if code != "00000000" else "1"}
        ).status_code
        == 400
    )
    assert post(staff, "/api/v1/console/orders/verify-pickup/", {"code": code}).json()["status"] == "picked_up"


def test_a_retried_order_request_returns_the_first_order(alpha: Any, buyer: Any) -> None:
    sku = product(alpha, stock=5)
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1})
    body = {"fulfilment": "delivery", "address": address_of(alpha, buyer)}
    first = post(client, "/api/v1/orders/", body, HTTP_IDEMPOTENCY_KEY="order-attempt-0001")
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1})  # the app re-sends with the same key
    again = post(client, "/api/v1/orders/", body, HTTP_IDEMPOTENCY_KEY="order-attempt-0001")
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    with in_shop(alpha):
        assert Order.objects.count() == 1 and Sku.objects.get(pk=sku.pk).stock == 4


def test_the_buyer_sees_exactly_what_changed(alpha: Any, buyer: Any) -> None:
    sku = product(alpha, stock=5, price=9900)
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 2})
    with in_shop(alpha):
        Sku.objects.filter(pk=sku.pk).update(price=8900, stock=1)
    cart = client.get("/api/v1/cart/?fulfilment=pickup").json()["quote"]
    assert cart["changes"] == [{"sku": sku.pk, "code": "price", "was": 9900, "now": 8900}]
    assert cart["problems"][0]["code"] == "stock" and cart["problems"][0]["available"] == 1
    refused = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address_of(alpha, buyer)})
    assert refused.status_code == 409 and refused.json()["code"] == "unavailable"
    client.patch(
        f"/api/v1/cart/items/{client.get('/api/v1/cart/').json()['items'][0]['id']}/",
        data=json.dumps({"quantity": 1}),
        content_type="application/json",
    )
    changed = post(
        client,
        "/api/v1/orders/",
        {"fulfilment": "delivery", "address": address_of(alpha, buyer), "expected_payable": 9900},
    )
    assert changed.status_code == 409 and changed.json()["code"] == "price_changed"
    assert changed.json()["details"]["payable"] == 8900
    with in_shop(alpha):
        assert not Order.objects.exists() and Sku.objects.get(pk=sku.pk).stock == 1  # nothing taken


def test_cancelling_returns_the_stock_and_unpaid_orders_time_out(alpha: Any, buyer: Any) -> None:
    sku = product(alpha, stock=3)
    client = member_client(alpha, buyer)
    address = address_of(alpha, buyer)
    for _ in range(2):
        post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1})
        assert post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address}).status_code == 201
    with in_shop(alpha):
        first, second = Order.objects.order_by("id")
        assert Sku.objects.get(pk=sku.pk).stock == 1
    assert post(client, f"/api/v1/orders/{first.pk}/cancel/").json()["status"] == "cancelled"
    with in_shop(alpha):
        assert Sku.objects.get(pk=sku.pk).stock == 2
        timeout = ShopSettings.current().unpaid_timeout_minutes
        assert services.run_timers(timezone.now() + timedelta(minutes=timeout - 1))["cancelled"] == 0
        assert services.run_timers(timezone.now() + timedelta(minutes=timeout + 1))["cancelled"] == 1
        assert Order.objects.get(pk=second.pk).cancel_reason == "unpaid timeout"
        assert Sku.objects.get(pk=sku.pk).stock == 3


@pytest.mark.parametrize("policy", ["refund", "revive"])
def test_a_payment_after_the_timeout_is_never_lost(alpha: Any, buyer: Any, policy: str) -> None:
    sku = product(alpha, stock=1)
    with in_shop(alpha):
        ShopSettings.objects.update_or_create(pk=1, defaults={"late_payment": policy})
        order = services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        services.order_cancel(order, actor="system", reason="unpaid timeout")
        order, outcome = services.order_mark_paid(order, amount=order.payable, actor="payment:pi_1", reference="pi_1")
        if policy == "refund":
            assert outcome == "refund" and order.status == "cancelled"
            assert Sku.objects.get(pk=sku.pk).stock == 1
        else:
            assert outcome == "revived" and order.status == "paid"
            assert Sku.objects.get(pk=sku.pk).stock == 0
        _order, again = services.order_mark_paid(order, amount=order.payable, actor="payment:pi_1", reference="pi_1")
        assert again in ("already_paid", "refund")


def test_a_revival_without_stock_refunds_instead(alpha: Any, buyer: Any) -> None:
    sku = product(alpha, stock=1)
    other = member(alpha, phone="13900139000")
    with in_shop(alpha):
        ShopSettings.objects.update_or_create(pk=1, defaults={"late_payment": "revive"})
        order = services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        services.order_cancel(order, actor="system", reason="unpaid timeout")
        services.order_create(
            other, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=other.addresses.get().pk
        )
        _order, outcome = services.order_mark_paid(order, amount=order.payable, actor="payment", reference="late")
        assert outcome == "refund" and Sku.objects.get(pk=sku.pk).stock == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fulfilment": "teleport"}, "fulfilment"),
        ({"fulfilment": "delivery", "address": 999999}, "address"),
        ({"fulfilment": "pickup", "store": 999999}, "store"),
        ({"fulfilment": "delivery", "note": "x" * 201}, "note"),
    ],
)
def test_bad_order_requests_are_field_errors(alpha: Any, buyer: Any, body: dict[str, Any], field: str) -> None:
    sku = product(alpha)
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1})
    response = post(client, "/api/v1/orders/", body)
    assert response.status_code == 400 and field in response.json(), response.content
    with in_shop(alpha):
        assert not Order.objects.exists() and Sku.objects.get(pk=sku.pk).stock == 10


@pytest.mark.parametrize(
    ("sku_id", "quantity"), [(999999, 1), ("x", 1), (None, 1), ("sku", 0), ("sku", -1), ("sku", 1000), ("sku", 11)]
)
def test_bad_cart_additions_are_field_errors(alpha: Any, buyer: Any, sku_id: Any, quantity: Any) -> None:
    sku = product(alpha, stock=10)
    client = member_client(alpha, buyer)
    response = post(client, "/api/v1/cart/items/", {"sku": sku.pk if sku_id == "sku" else sku_id, "quantity": quantity})
    assert response.status_code == 400


def test_draft_products_cannot_be_bought(alpha: Any, buyer: Any) -> None:
    sku = product(alpha, on_sale=False)
    assert post(member_client(alpha, buyer), "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1}).status_code == 400


def test_orders_belong_to_their_member_and_shop(alpha: Any, beta: Any, buyer: Any) -> None:
    sku = product(alpha)
    client = member_client(alpha, buyer)
    post(client, "/api/v1/cart/items/", {"sku": sku.pk, "quantity": 1})
    order = post(client, "/api/v1/orders/", {"fulfilment": "delivery", "address": address_of(alpha, buyer)}).json()
    someone_else = member_client(alpha, member(alpha, phone="13700137000"))
    assert someone_else.get(f"/api/v1/orders/{order['id']}/").status_code == 404
    assert post(someone_else, f"/api/v1/orders/{order['id']}/cancel/").status_code == 404
    beta_buyer = member_client(beta, member(beta))
    assert beta_buyer.get(f"/api/v1/orders/{order['id']}/").status_code == 404
    assert owner_client(beta).get(f"/api/v1/console/orders/{order['id']}/").status_code == 404
    assert client.get("/api/v1/orders/").json()["count"] == 1


def test_the_beat_task_runs_each_shops_timers_in_its_own_schema(alpha: Any, beta: Any, buyer: Any) -> None:
    from shop.orders.tasks import run_timers_all_shops

    sku = product(alpha, stock=2)
    with in_shop(alpha):
        order = services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        Order.objects.filter(pk=order.pk).update(pay_by=timezone.now() - timedelta(minutes=1))
    assert run_timers_all_shops.apply().get() >= 2
    with in_shop(alpha):
        assert Order.objects.get(pk=order.pk).status == "cancelled"
        assert Sku.objects.get(pk=sku.pk).stock == 2
