"""The shipping fee goes back when, before anything shipped, the buyer takes back every
unit: the buyer then received nothing and pays nothing. A partial refund, or a refund
after shipping, returns the goods' share only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aftersales.conftest import ask, buyer_and_client, delivered, line_ids, paid_order
from tests.conftest import in_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipping_fee(alpha: Any) -> int:
    from shop.checkout.models import ShippingTemplate

    with in_shop(alpha):
        ShippingTemplate.objects.update_or_create(
            is_default=True, defaults={"name": "std", "default_fee": 800, "free_over": None, "rules": []}
        )
    return 800


def test_refunding_everything_before_shipping_returns_the_shipping_fee(alpha: Any, shipping_fee: int) -> None:
    buyer, client = buyer_and_client(alpha)
    order = paid_order(alpha, buyer, [(5000, 2), (3000, 1)])
    assert order.shipping_fee == shipping_fee and order.payable == 13000 + shipping_fee
    first, second = line_ids(alpha, order)
    partial = ask(client, alpha, order, [(first, 1)])
    assert partial.status_code == 201, partial.content
    assert partial.json()["refund_amount"] == 5000 and partial.json()["shipping_refund"] == 0
    rest = ask(client, alpha, order, [(first, 1), (second, 1)])
    assert rest.status_code == 201, rest.content
    assert rest.json()["shipping_refund"] == shipping_fee
    assert partial.json()["refund_amount"] + rest.json()["refund_amount"] == order.payable


def test_after_shipping_the_fee_stays(alpha: Any, shipping_fee: int) -> None:
    buyer, client = buyer_and_client(alpha, "13800138001")
    order = paid_order(alpha, buyer, [(5000, 1)])
    delivered(alpha, order)
    (line,) = line_ids(alpha, order)
    answer = ask(client, alpha, order, [(line, 1)], kind="return_refund")
    assert answer.status_code == 201 and answer.json()["refund_amount"] == 5000
    assert answer.json()["shipping_refund"] == 0


def test_an_open_refund_request_holds_shipping_until_answered(alpha: Any, shipping_fee: int) -> None:
    from django.core.exceptions import ValidationError

    from shop.aftersales import services as aftersales
    from shop.aftersales.models import AfterSale
    from shop.orders import services as orders

    buyer, client = buyer_and_client(alpha, "13800138002")
    order = paid_order(alpha, buyer, [(5000, 2)])
    (line,) = line_ids(alpha, order)
    asked = ask(client, alpha, order, [(line, 1)])
    assert asked.status_code == 201
    with in_shop(alpha):
        with pytest.raises(ValidationError) as held:
            orders.order_ship(order, carrier="顺丰", tracking_number="SF2", actor="staff:1")
        assert "after-sales request" in str(held.value) or "售后" in str(held.value)
        aftersales.aftersale_reject(AfterSale.objects.get(pk=asked.json()["id"]), reason="已发货途中", actor="staff:1")
        shipped = orders.order_ship(order, carrier="顺丰", tracking_number="SF2", actor="staff:1")
        assert shipped.status == "shipped"
