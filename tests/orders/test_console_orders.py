"""The merchant's order pages: find the order, confirm an offline payment, ship it."""

from __future__ import annotations

from typing import Any

import pytest

from shop.orders import services
from shop.orders.models import Order
from tests.conftest import in_shop, owner_client
from tests.orders.conftest import member, product

pytestmark = pytest.mark.django_db


def test_merchant_confirms_payment_and_ships_from_the_console(alpha: Any) -> None:
    sku = product(alpha, price=12_345)
    buyer = member(alpha)
    with in_shop(alpha):
        order = services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
    client = owner_client(alpha)
    listing = client.get("/console/orders/?status=unpaid").content.decode()
    assert order.number in listing and "¥123.45" in listing
    wrong = client.post(f"/console/orders/{order.pk}/", {"action": "mark_paid", "amount": "100"})
    assert wrong.status_code == 400
    assert client.post(f"/console/orders/{order.pk}/", {"action": "mark_paid", "amount": "123.45"}).status_code == 302
    bad = client.post(f"/console/orders/{order.pk}/", {"action": "ship", "carrier": "顺丰", "tracking_number": ""})
    assert bad.status_code == 400
    client.post(f"/console/orders/{order.pk}/", {"action": "ship", "carrier": "顺丰", "tracking_number": "SF1"})
    with in_shop(alpha):
        assert Order.objects.get(pk=order.pk).status == "shipped"
    page = client.get(f"/console/orders/{order.pk}/").content.decode()
    assert "SF1" in page and "已付款 → 已发货" in page


def test_an_unknown_pickup_code_is_a_field_error(alpha: Any) -> None:
    response = owner_client(alpha).post("/console/orders/pickup/", {"code": "12345678"})
    assert response.status_code == 400


def test_members_see_their_purchase_history_and_only_theirs(alpha: Any) -> None:
    from tests.conftest import PASSWORD, shop_client

    sku = product(alpha, price=5_000)
    buyer, other = member(alpha), member(alpha, phone="13900000000")
    with in_shop(alpha):
        mine = services.order_create(
            buyer, items=[(sku.pk, 2, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        theirs = services.order_create(
            other, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=other.addresses.get().pk
        )
    client = shop_client(alpha)
    assert client.get("/account/orders/").status_code == 302  # log in first
    client.post("/account/login/", {"login": "13800138000", "password": PASSWORD})
    page = client.get("/account/orders/").content.decode()
    assert mine.number in page and theirs.number not in page and "¥100.00" in page
    assert client.get(f"/account/orders/{mine.pk}/").status_code == 200
    assert client.get(f"/account/orders/{theirs.pk}/").status_code == 404


def test_merchant_finds_members_with_their_spend_and_can_disable_one(alpha: Any) -> None:
    from shop.members.models import Member

    sku = product(alpha, price=5_000)
    buyer = member(alpha)
    with in_shop(alpha):
        order = services.order_create(
            buyer, items=[(sku.pk, 2, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        services.order_mark_paid(order, amount=order.payable, actor="test")
    client = owner_client(alpha)
    page = client.get("/console/members/?q=1380013").content.decode()
    assert "13800138000" in page and "¥100.00" in page
    client.post(f"/console/members/{buyer.pk}/active/", {"action": "deactivate"})
    with in_shop(alpha):
        assert not Member.objects.get(pk=buyer.pk).is_active
