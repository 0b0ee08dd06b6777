"""Group buying as a shopper meets it on the storefront: the product page offers the
group price, a leader starts a group through a small checkout, the share link opens the
group, a friend joins it; a full group offers to start a new one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from tests.conftest import in_shop
from tests.marketing.helpers import group_deal
from tests.orders.conftest import product
from tests.storefront.test_pages import english, field, logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def events_at_once() -> Iterator[None]:
    with mock.patch("shop.events.transaction.on_commit", side_effect=lambda f, robust=False: f()):
        yield


def _pay(tenant: Any, order_id: int) -> None:
    from shop.orders.models import Order
    from shop.payments import services as payments

    with in_shop(tenant):
        order = Order.objects.get(pk=order_id)
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")


def test_start_share_and_join_a_group_from_the_storefront(beta: Any) -> None:
    sku = product(beta, name="Peach box", price=6000, stock=10)
    deal = group_deal(beta, [{"sku": sku.pk, "price": 3900}], size=2)
    leader, _leader_member = logged_in(beta, "13300133000")
    english(leader)
    page = leader.get(f"/products/{sku.product_id}/").content.decode()
    assert "¥39.00" in page and "2-person group" in page
    checkout = leader.get(f"/group-buy/{deal.pk}/?sku={sku.pk}").content.decode()
    address = field(checkout, r'name="address" value="(\d+)"')
    placed = leader.post(
        f"/group-buy/{deal.pk}/", {"sku": sku.pk, "quantity": "1", "fulfilment": "delivery", "address": address}
    )
    assert placed.status_code == 302, placed.content.decode()[:1500]
    order_id = int(re.search(r"/account/orders/(\d+)/pay/", placed["Location"]).group(1))  # type: ignore[union-attr]
    _pay(beta, order_id)
    from shop.marketing.models import GroupMember

    with in_shop(beta):
        group_id = GroupMember.objects.get(order_id=order_id).group_id
    friend, _friend_member = logged_in(beta, "13300133001")
    english(friend)
    shared = friend.get(f"/?group={group_id}")
    assert shared.status_code == 302 and shared["Location"] == f"/groups/{group_id}/"
    group_page = friend.get(f"/groups/{group_id}/").content.decode()
    assert "1 of 2 have paid" in group_page and "Join this group" in group_page
    join_form = friend.get(f"/group-buy/{deal.pk}/?sku={sku.pk}&group={group_id}").content.decode()
    friend_address = field(join_form, r'name="address" value="(\d+)"')
    joined = friend.post(
        f"/group-buy/{deal.pk}/",
        {"sku": sku.pk, "group": group_id, "quantity": "1", "fulfilment": "delivery", "address": friend_address},
    )
    assert joined.status_code == 302, joined.content.decode()[:1500]
    # the group is now full: a third shopper is offered a new group instead
    third, _third_member = logged_in(beta, "13300133002")
    english(third)
    third_form = third.get(f"/group-buy/{deal.pk}/?sku={sku.pk}&group={group_id}").content.decode()
    third_address = field(third_form, r'name="address" value="(\d+)"')
    refused = third.post(
        f"/group-buy/{deal.pk}/",
        {"sku": sku.pk, "group": group_id, "quantity": "1", "fulfilment": "delivery", "address": third_address},
    )
    assert refused.status_code == 409
    assert 'name="group" value=""' in refused.content.decode()  # the form now opens a new group


def test_bad_input_and_another_shops_group(beta: Any, alpha: Any) -> None:
    sku = product(beta, name="Plum box", price=5000, stock=10)
    deal = group_deal(beta, [{"sku": sku.pk, "price": 3000}], size=2)
    client, _buyer = logged_in(beta, "13300133003")
    bad = english(client).post(f"/group-buy/{deal.pk}/", {"sku": "x", "quantity": "0", "fulfilment": "delivery"})
    assert bad.status_code == 400 and "Choose one of the deal" in bad.content.decode()
    alpha_client, _alpha_buyer = logged_in(alpha, "13300133004")
    assert alpha_client.get(f"/group-buy/{deal.pk}/").status_code == 404
