"""Refunds and settlement on the ledger: a partial refund reverses pro rata and a full
refund exactly; settlement waits for the hold and while an after-sale is open, and a
rerun settles nothing twice; a refund after settlement claws back from available and
carries the rest as debt, which later settlements repay first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.aftersales.conftest import ask, buyer_and_client, delivered, line_ids, post
from tests.conftest import in_shop, owner_client
from tests.distribution.conftest import (
    balances,
    bound_buyer,
    chain,
    complete,
    configure,
    distributor,
    lines_of,
    pay,
    refund_lines,
    sound,
)

pytestmark = pytest.mark.django_db


def _refund_via_aftersale(tenant: Any, client: Any, order: Any, lines: list[tuple[int, int]], deliver: Any) -> None:
    response = ask(client, tenant, order, lines)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    merchant = owner_client(tenant)
    with deliver():
        assert post(merchant, f"/api/v1/console/aftersales/{pk}/approve/").status_code == 200
        refunded = post(merchant, f"/api/v1/console/aftersales/{pk}/refund/", {"reference": "现金退回"})
        assert refunded.status_code == 200, refunded.content


def test_partial_refunds_reverse_pro_rata_and_a_full_refund_exactly(alpha: Any, deliver_events: Any) -> None:
    configure(alpha, levels=1, rate_level1_bp=1000)
    sharer = distributor(alpha)
    buyer, client = buyer_and_client(alpha, "13800001111")
    from distribution import services
    from distribution.models import BindingSource

    with in_shop(alpha):
        services.bind(buyer, sharer, source=BindingSource.LINK, evidence={}, actor="t")
    order = pay(alpha, buyer, [(333, 3)], deliver_events)  # base 999, commission 99
    (line,) = lines_of(alpha, order)
    assert line.amount == 99
    (order_line,) = line_ids(alpha, order)
    _refund_via_aftersale(alpha, client, order, [(order_line, 1)], deliver_events)  # 333 of 999 back
    (line,) = lines_of(alpha, order)
    assert (line.reversed_amount, line.status) == (33, "pending")  # 99 × 333 / 999 = 33
    assert balances(alpha, sharer)["pending"] == 66
    _refund_via_aftersale(alpha, client, order, [(order_line, 2)], deliver_events)  # the rest
    (line,) = lines_of(alpha, order)
    assert (line.reversed_amount, line.status, line.net) == (99, "reversed", 0)
    assert balances(alpha, sharer)["pending"] == 0
    sound(alpha)


def test_settlement_waits_for_the_hold_and_an_open_aftersale_and_never_settles_twice(
    alpha: Any, deliver_events: Any
) -> None:
    from distribution import settlement
    from shop.orders.models import Order

    configure(alpha, levels=1, rate_level1_bp=1000, hold_days=7)
    sharer = distributor(alpha)
    buyer, client = buyer_and_client(alpha, "13800002222")
    from distribution import services

    with in_shop(alpha):
        services.bind(buyer, sharer, source="link", evidence={}, actor="t")
    order = pay(alpha, buyer, [(1000, 2)], deliver_events)
    delivered(alpha, order)
    (order_line,) = line_ids(alpha, order)
    assert ask(client, alpha, order, [(order_line, 1)]).status_code == 201  # open after-sale
    with in_shop(alpha):
        # even if the order were completed long ago, the open after-sale holds the line
        Order.objects.filter(pk=order.pk).update(status="completed", completed_at=timezone.now() - timedelta(days=30))
        assert settlement.settle_due() == 0
        from shop.aftersales.models import AfterSale

        AfterSale.objects.filter(order=order).update(status="rejected")
        Order.objects.filter(pk=order.pk).update(completed_at=timezone.now() - timedelta(days=6))
        assert settlement.settle_due() == 0  # hold not passed
        assert settlement.settle_due(now=timezone.now() + timedelta(days=1, minutes=1)) == 1
        assert settlement.settle_due(now=timezone.now() + timedelta(days=2)) == 0  # rerun: nothing twice
    assert balances(alpha, sharer) == {
        "pending": 0,
        "available": 200,
        "withdrawing": 0,
        "paid_out": 0,
        "clawback_debt": 0,
    }
    sound(alpha)


def test_monthly_settlement_on_the_shops_day(alpha: Any, deliver_events: Any) -> None:
    from datetime import datetime

    from distribution import settlement

    configure(alpha, levels=1, rate_level1_bp=1000, hold_days=0, settlement_mode="monthly", settlement_day=10)
    sharer = distributor(alpha)
    order = pay(alpha, bound_buyer(alpha, sharer), [(1000, 1)], deliver_events)
    complete(alpha, order, days_ago=0)
    now = timezone.localtime()
    with in_shop(alpha):
        from shop.orders.models import Order

        completed_on = timezone.make_aware(datetime(2026, 3, 12, 12, 0))
        Order.objects.filter(pk=order.pk).update(completed_at=completed_on)
        assert settlement.settle_due(now=timezone.make_aware(datetime(2026, 4, 9, 23, 0))) == 0
        assert settlement.settle_due(now=timezone.make_aware(datetime(2026, 4, 10, 0, 30))) == 1
    del now


def test_refund_after_settlement_claws_back_then_debt_repaid_by_later_settlement(
    alpha: Any, deliver_events: Any
) -> None:
    from distribution import settlement
    from distribution.models import CommissionLine

    configure(alpha, levels=1, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(alpha)
    buyer = bound_buyer(alpha, sharer)
    first = pay(alpha, buyer, [(10_000, 1)], deliver_events)  # 1000
    complete(alpha, first)
    with in_shop(alpha):
        assert settlement.settle_due() == 1
    assert balances(alpha, sharer)["available"] == 1000
    # the distributor withdraws 700 of it
    from distribution import withdrawals

    configure(alpha, withdrawal_minimum=100, withdrawal_methods=["shop_balance"])
    with in_shop(alpha):
        withdrawals.withdrawal_request(sharer, {"amount": 700, "method": "shop_balance"})
    # then the whole order is refunded (after settlement): 1000 to claw back, 300 available
    with in_shop(alpha):
        (order_line,) = first.lines.values_list("pk", flat=True)
    refund = refund_lines(alpha, first, [(order_line, 10_000)], deliver_events)
    with in_shop(alpha):
        assert settlement.commission_sync_refund(refund) == 0  # the event again: nothing twice
        line = CommissionLine.objects.get(order=first)
        assert (line.status, line.clawed_back, line.net) == ("settled", 1000, 0)
    assert balances(alpha, sharer) == {
        "pending": 0,
        "available": 0,
        "withdrawing": 700,
        "paid_out": 0,
        "clawback_debt": -700,
    }
    # a later order's settlement repays the debt first
    second = pay(alpha, buyer, [(5_000, 1)], deliver_events)  # 500
    third = pay(alpha, buyer, [(5_000, 1)], deliver_events)  # 500
    complete(alpha, second)
    complete(alpha, third)
    with in_shop(alpha):
        assert settlement.settle_due() == 2
    assert balances(alpha, sharer)["clawback_debt"] == 0
    assert balances(alpha, sharer)["available"] == 300  # 1000 - 700 of debt
    sound(alpha)


def test_team_dividends_once_per_month_for_grade_leaders(beta: Any, deliver_events: Any) -> None:
    from datetime import datetime

    from distribution import dividends, settlement
    from distribution.models import CommissionLine

    configure(
        beta,
        levels=2,
        rate_level1_bp=1000,
        rate_level2_bp=100,
        hold_days=0,
        team_dividend_enabled=True,
        # a leader: at least one distributor of their own (granted automatically)
        grades=[{"name": "团长", "rank": 1, "dividend_bp": 200, "min_direct_invitees": 1}],
    )
    leader, member_ = chain(beta, 2)
    order = pay(beta, bound_buyer(beta, member_), [(30_000, 1)], deliver_events)
    complete(beta, order)
    march = timezone.make_aware(datetime(2026, 3, 15, 12, 0))
    with in_shop(beta):
        assert settlement.settle_due() == 2
        CommissionLine.objects.filter(order=order).update(settled_at=march)
        april = timezone.make_aware(datetime(2026, 4, 2, 9, 0))
        assert dividends.dividends_for_month(beta, april) == {leader.pk: 600}  # 2% of the team's 30,000
        assert dividends.dividends_for_month(beta, april) == {}  # once
    assert balances(beta, leader)["available"] == 300 + 600  # level-2 commission + dividend
    sound(beta)


def test_a_refund_event_before_the_commission_is_caught_up(alpha: Any, deliver_events: Any) -> None:
    """The after-sale's event arrived first (found nothing); the commission, computed
    later, takes the refund into account, and the late event changes nothing."""
    from distribution import commission, settlement
    from distribution.models import CommissionLine
    from shop.aftersales.models import AfterSale

    configure(alpha, levels=1, rate_level1_bp=1000)
    sharer = distributor(alpha)
    buyer, client = buyer_and_client(alpha, "13800003333")
    from distribution import services

    with in_shop(alpha):
        services.bind(buyer, sharer, source="link", evidence={}, actor="t")
    from tests.aftersales.conftest import paid_order

    order = paid_order(alpha, buyer, [(1000, 2)])  # events not delivered: no commission yet
    (order_line,) = line_ids(alpha, order)
    _refund_via_aftersale(alpha, client, order, [(order_line, 1)], deliver_events)  # found nothing to reverse
    assert lines_of(alpha, order) == []
    with in_shop(alpha):
        commission.commission_for_order(alpha, order)  # the late order_paid
        line = CommissionLine.objects.get(order=order)
        assert (line.amount, line.reversed_amount) == (200, 100)
        aftersale = AfterSale.objects.get(order=order)
        assert settlement.commission_sync_refund(aftersale.refunds.get()) == 0  # the event again: nothing twice
    assert balances(alpha, sharer)["pending"] == 100
    sound(alpha)


def test_the_beat_task_settles_every_shop(alpha: Any, beta: Any, deliver_events: Any) -> None:
    from distribution import tasks

    found = {}
    for shop in (alpha, beta):
        configure(shop, levels=1, rate_level1_bp=1000, hold_days=0)
        sharer = distributor(shop)
        order = pay(shop, bound_buyer(shop, sharer), [(1000, 1)], deliver_events)
        complete(shop, order)
        found[shop.slug] = sharer
    assert tasks.settle_all_shops() >= 2
    for shop in (alpha, beta):
        assert balances(shop, found[shop.slug])["available"] == 100
    assert tasks.settle_all_shops() >= 2  # again: nothing twice
    assert balances(alpha, found["alpha"])["available"] == 100


def test_a_paid_order_closed_takes_back_what_is_left(alpha: Any, deliver_events: Any) -> None:
    from shop.orders import services as orders

    configure(alpha, levels=1, rate_level1_bp=1000)
    sharer = distributor(alpha)
    buyer, client = buyer_and_client(alpha, "13800004444")
    from distribution import services

    with in_shop(alpha):
        services.bind(buyer, sharer, source="link", evidence={}, actor="t")
    order = pay(alpha, buyer, [(1000, 3)], deliver_events)
    (order_line,) = line_ids(alpha, order)
    _refund_via_aftersale(alpha, client, order, [(order_line, 1)], deliver_events)  # 100 of 300 back
    assert balances(alpha, sharer)["pending"] == 200
    from shop.payments import services as payments
    from shop.payments.allocation import RefundFor
    from shop.payments.models import Payment

    with deliver_events(), in_shop(alpha):  # a failed group buy: what is left refunded, the order closed
        payment = Payment.objects.get(order=order)
        payments.refund_payment(
            payment,
            payment.refundable,
            "group failed",
            "system",
            reference="bank",
            refund_for=RefundFor(everything=True),
        )
        orders.order_close(order, actor="staff:1", note="group buy failed")
    with in_shop(alpha):
        assert list(order.lines.values_list("refunded_amount", "refunded_quantity")) == [(3000, 3)]
    (line,) = lines_of(alpha, order)
    assert (line.reversed_amount, line.status) == (300, "reversed")
    assert balances(alpha, sharer)["pending"] == 0
    sound(alpha)


def test_settlement_killed_midway_then_rerun_settles_each_line_once(
    alpha: Any, deliver_events: Any, monkeypatch: Any
) -> None:
    from distribution import settlement
    from distribution.models import CommissionLine, LedgerTransaction

    configure(alpha, levels=1, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(alpha)
    buyer = bound_buyer(alpha, sharer)
    for price in (1000, 2000, 3000):
        complete(alpha, pay(alpha, buyer, [(price, 1)], deliver_events))
    real = settlement._settle
    calls = []

    def dies_on_the_second_batch(lines: Any, now: Any) -> int:
        calls.append(len(lines))
        if len(calls) == 2:
            raise KeyboardInterrupt("worker killed")
        return real(lines, now)

    monkeypatch.setattr(settlement, "_settle", dies_on_the_second_batch)
    with in_shop(alpha), pytest.raises(KeyboardInterrupt):
        settlement.settle_due(batch=1)
    assert balances(alpha, sharer)["available"] == 100  # the first batch stays settled
    monkeypatch.setattr(settlement, "_settle", real)
    with in_shop(alpha):
        assert settlement.settle_due(batch=1) == 2
        assert settlement.settle_due(batch=1) == 0
        assert LedgerTransaction.objects.filter(kind="settle").count() == 3
        assert set(CommissionLine.objects.values_list("status", flat=True)) == {"settled"}
    assert balances(alpha, sharer) == {
        "pending": 0,
        "available": 600,
        "withdrawing": 0,
        "paid_out": 0,
        "clawback_debt": 0,
    }
    sound(alpha)


def test_the_verify_command_finds_a_tampered_balance(alpha: Any, deliver_events: Any) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    from distribution.models import LedgerAccount

    configure(alpha, levels=1, rate_level1_bp=1000)
    sharer = distributor(alpha)
    pay(alpha, bound_buyer(alpha, sharer), [(1000, 1)], deliver_events)
    out = StringIO()
    call_command("distribution_verify", shop="alpha", stdout=out)
    assert "nothing found in 1 shop" in out.getvalue()
    with in_shop(alpha):
        LedgerAccount.objects.filter(distributor=sharer, kind="pending").update(balance=999)
    with pytest.raises(CommandError):
        call_command("distribution_verify", shop="alpha", stdout=StringIO(), stderr=StringIO())
