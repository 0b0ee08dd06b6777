"""Flash-sale and group-buy races, run deterministically (the pattern of test_races): the
competing order runs exactly while the first holds the row it took, and the first commits
only once the second waits on it.

* two buyers, the last flash unit: exactly one order gets it, the other is refused
  (``flash_sold_out``) and nothing of it remains; never below zero;
* one member, two flash orders at once, limit 1: the second is priced knowing the first;
* two buyers, the last place of a group: exactly one joins, the other is offered a new
  group (``group_full``); never an overfull group;
* many buyers at once on a few units (threads started together): sold never exceeds the
  activity stock and every unit sold is in exactly one order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections

from shop.marketing import flash, groups
from tests.conftest import in_shop
from tests.marketing.helpers import flash_session, group_deal
from tests.marketing.test_races import _race, _shop
from tests.orders.conftest import member, product


def _buy(tenant: Any, who: Any, sku: Any, quantity: int = 1) -> Callable[[], Any]:
    from shop.orders import services as orders

    def work() -> Any:
        with in_shop(tenant):
            address = who.addresses.get().pk
            try:
                order = orders.order_create(
                    who, items=[(sku.pk, quantity, None)], fulfilment="delivery", address_id=address
                )
            except orders.OrderRefused as exc:
                return exc.code
            return order.lines.get().activity_discount

    return work


def test_two_buyers_take_the_last_flash_unit(live_db: list[str], monkeypatch: Any) -> None:
    from shop.marketing.models import FlashUse
    from shop.orders.models import Order

    tenant = _shop(live_db, "flash-race")
    tea = product(tenant, price=10000, stock=10)
    session = flash_session(tenant, [{"sku": tea.pk, "price": 1000, "stock": 1}])
    ann, bob = member(tenant, "13800000301"), member(tenant, "13800000302")
    outcomes = _race(monkeypatch, flash, "_take", _buy(tenant, ann, tea), _buy(tenant, bob, tea))
    assert outcomes == {"first": 9000, "second": "flash_sold_out"}
    with in_shop(tenant):
        item = session.items.get()
        tea.refresh_from_db()
        assert (item.sold, item.stock) == (1, 1)
        assert Order.objects.count() == 1 and FlashUse.objects.count() == 1
        assert tea.stock == 9  # the refused order took nothing


def test_one_member_two_flash_orders_at_once_within_the_limit(live_db: list[str], monkeypatch: Any) -> None:
    tenant = _shop(live_db, "flash-limit-race")
    tea = product(tenant, price=10000, stock=10)
    session = flash_session(tenant, [{"sku": tea.pk, "price": 1000, "stock": 5, "per_member_limit": 1}])
    ann = member(tenant, "13800000303")
    outcomes = _race(monkeypatch, flash, "_take", _buy(tenant, ann, tea), _buy(tenant, ann, tea))
    assert outcomes == {"first": 9000, "second": 0}  # the second at the normal price
    with in_shop(tenant):
        assert session.items.get().sold == 1


def test_two_buyers_take_the_last_place_of_a_group(live_db: list[str], monkeypatch: Any) -> None:
    from shop.marketing.models import Group, GroupMember
    from shop.orders import services as orders
    from shop.payments import services as payments

    tenant = _shop(live_db, "group-race")
    tea = product(tenant, price=10000, stock=10)
    deal = group_deal(tenant, [{"sku": tea.pk, "price": 6000}], size=2)
    leader, bob, cat = member(tenant, "13800000304"), member(tenant, "13800000305"), member(tenant, "13800000306")
    with in_shop(tenant):
        lead = groups.group_open(
            leader, deal, {"sku": tea.pk, "fulfilment": "delivery", "address": leader.addresses.get().pk}
        )
        payments.offline_confirm(lead, amount=lead.payable, actor="staff:1")
        group = Group.objects.get()
        assert group.status == "open"

    def join(who: Any) -> Callable[[], Any]:
        def work() -> Any:
            with in_shop(tenant):
                body = {"sku": tea.pk, "fulfilment": "delivery", "address": who.addresses.get().pk}
                try:
                    return groups.group_join(who, Group.objects.get(pk=group.pk), body).pk
                except orders.OrderRefused as exc:
                    return (exc.code, exc.details)

        return work

    outcomes = _race(monkeypatch, groups, "_take_seat", join(bob), join(cat))
    assert isinstance(outcomes["first"], int)
    assert outcomes["second"] == ("group_full", {"group": group.pk, "deal": deal.pk, "can_open": True})
    with in_shop(tenant):
        group.refresh_from_db()
        assert (group.seats, group.size) == (2, 2)
        assert sorted(GroupMember.objects.values_list("member_id", flat=True)) == sorted([leader.pk, bob.pk])


def test_many_buyers_at_once_never_oversell(live_db: list[str]) -> None:
    from shop.marketing.models import FlashUse

    tenant = _shop(live_db, "flash-crowd")
    tea = product(tenant, price=10000, stock=50)
    session = flash_session(tenant, [{"sku": tea.pk, "price": 1000, "stock": 3}])
    buyers = [member(tenant, f"138000004{n:02d}") for n in range(8)]
    start = threading.Barrier(len(buyers))
    outcomes: list[Any] = []

    def run(who: Any) -> None:
        try:
            start.wait(10)
            outcomes.append(_buy(tenant, who, tea)())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(b,)) for b in buyers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with in_shop(tenant):
        item = session.items.get()
        flash_units = sum(FlashUse.objects.values_list("quantity", flat=True))
    assert item.sold == flash_units == 3
    assert outcomes.count(9000) == 3  # exactly three at the flash price
    assert len(outcomes) == len(buyers)  # the others: refused, or at the normal price once it showed sold out
