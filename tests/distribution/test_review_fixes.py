"""Defects found in review of the distribution engine, each pinned: refunds from the
order page take commission back; an after-sale's commission is taken back only once the
money is back; money coming back from a withdrawal repays a clawback debt first; a
Stripe Connect payout cannot be paid twice nor failed while a transfer may exist; the
catch-up never pays commission on a closed order; commission never exceeds the base;
team dividends stay within the shop's levels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.billing.conftest import stripe_boundary  # noqa: F401 - the fixture
from tests.conftest import in_shop
from tests.distribution.conftest import (
    balances,
    bound_buyer,
    complete,
    configure,
    distributor,
    lines_of,
    pay,
    refund_lines,
    sound,
)

pytestmark = pytest.mark.django_db


def _console_refund(tenant: Any, order: Any, yuan: str, deliver: Any) -> None:
    from shop.payments import console as payments_console

    with in_shop(tenant), deliver():
        payments_console.handle(order, "refund", {"amount": yuan, "reference": "bank 1", "reason": "x"}, "staff:1")


# --- 1. a refund from the order page ---------------------------------------------------------
def test_an_order_page_refund_takes_commission_back_spread_over_the_lines(alpha: Any, deliver_events: Any) -> None:
    from distribution import settlement

    configure(alpha, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(alpha)
    order = pay(alpha, bound_buyer(alpha, sharer), [(6000, 1), (4000, 1)], deliver_events)
    assert balances(alpha, sharer)["pending"] == 1000
    _console_refund(alpha, order, "50.00", deliver_events)  # half the goods: 3000 + 2000
    first, second = lines_of(alpha, order)
    assert (first.refunded_base, first.reversed_amount) == (3000, 300)
    assert (second.refunded_base, second.reversed_amount) == (2000, 200)
    assert balances(alpha, sharer)["pending"] == 500
    with in_shop(alpha):
        from shop.payments.models import Refund

        refund = Refund.objects.get(payment__order=order)
        assert settlement.commission_sync_refund(refund) == 0  # the event again: nothing twice
    complete(alpha, order)
    with in_shop(alpha):
        assert settlement.settle_due() == 2
    assert balances(alpha, sharer)["available"] == 500
    _console_refund(alpha, order, "50.00", deliver_events)  # the rest, once settled: clawed back
    assert balances(alpha, sharer)["available"] == 0
    assert [line.clawed_back for line in lines_of(alpha, order)] == [300, 200]
    sound(alpha)


def test_a_refund_beyond_the_goods_left_is_shipping(alpha: Any, deliver_events: Any) -> None:
    from tests.distribution import money

    configure(alpha, rate_level1_bp=1000, hold_days=0)
    money.shipping(alpha, 800)
    sharer = distributor(alpha)
    order = pay(alpha, bound_buyer(alpha, sharer), [(6000, 1), (4000, 1)], deliver_events)
    _console_refund(alpha, order, "108.00", deliver_events)  # the goods, then 800 of shipping
    assert [line.refunded_base for line in lines_of(alpha, order)] == [6000, 4000]
    assert balances(alpha, sharer)["pending"] == 0
    with in_shop(alpha):
        order.refresh_from_db()
        assert order.shipping_refunded == 800
    sound(alpha)


# --- 2. an after-sale whose refund fails ----------------------------------------------------
def _pending_aftersale_refund(tenant: Any, deliver: Any) -> tuple[Any, Any, Any]:
    from shop.aftersales import services as aftersales
    from tests.aftersales.conftest import reason_id

    configure(tenant, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(tenant)
    buyer = bound_buyer(tenant, sharer)
    order = pay(tenant, buyer, [(10_000, 1)], deliver)
    (line,) = lines_of(tenant, order)
    rid = reason_id(tenant)
    with in_shop(tenant):
        with deliver():
            a = aftersales.aftersale_request(
                buyer,
                order,
                {"kind": "refund_only", "reason": rid, "lines": [{"line": line.order_line_id, "quantity": 1}]},
            )
            aftersales.aftersale_approve(a, actor="staff:1")
        with deliver():
            aftersales.aftersale_refund(a, actor="staff:1")  # offline, no reference: pending
    return sharer, order, a


def test_a_failed_aftersale_refund_leaves_the_commission_standing(alpha: Any, deliver_events: Any) -> None:
    from shop.aftersales import services as aftersales
    from shop.payments import records
    from shop.payments.models import Refund

    sharer, order, a = _pending_aftersale_refund(alpha, deliver_events)
    assert balances(alpha, sharer)["pending"] == 1000  # the money is not back yet
    with in_shop(alpha):
        refund = Refund.objects.filter(aftersales=a).get()
        with deliver_events():
            records.refund_failed(refund.pk, "bank refused")
        with deliver_events():
            aftersales.aftersale_reject(a, reason="buyer keeps it", actor="staff:1")
    assert balances(alpha, sharer)["pending"] == 1000
    assert [(line.status, line.reversed_amount) for line in lines_of(alpha, order)] == [("pending", 0)]
    sound(alpha)


def test_an_aftersale_refund_that_succeeds_later_takes_the_commission_back(alpha: Any, deliver_events: Any) -> None:
    from distribution import settlement
    from shop.aftersales import services as aftersales
    from shop.payments.models import Refund

    sharer, order, a = _pending_aftersale_refund(alpha, deliver_events)
    complete(alpha, order)
    with in_shop(alpha):
        assert settlement.settle_due() == 0  # held while the refund is pending
        refund = Refund.objects.filter(aftersales=a).get()
        with deliver_events():
            aftersales.aftersale_refund_sent(a, refund=refund.pk, reference="bank 9", actor="staff:1")
    assert balances(alpha, sharer)["pending"] == 0
    assert [line.reversed_amount for line in lines_of(alpha, order)] == [1000]
    sound(alpha)


# --- 3. funds back while a clawback debt is outstanding -------------------------------------
def _earn(tenant: Any, deliver: Any) -> tuple[Any, Any]:
    from distribution import settlement

    configure(tenant, rate_level1_bp=1000, hold_days=0, withdrawal_minimum=100, withdrawal_methods=["bank"])
    sharer = distributor(tenant)
    order = pay(tenant, bound_buyer(tenant, sharer), [(10_000, 1)], deliver)
    complete(tenant, order)
    with in_shop(tenant):
        assert settlement.settle_due() == 1
    return sharer, order


BANK = {"amount": 1000, "method": "bank", "account_details": {"account_number": "6222"}}


def test_funds_back_repay_the_clawback_debt_first(alpha: Any, deliver_events: Any) -> None:
    from django.core.exceptions import ValidationError

    from distribution import withdrawals

    sharer, order = _earn(alpha, deliver_events)
    with in_shop(alpha):
        w = withdrawals.withdrawal_request(sharer, BANK)
        (line,) = list(order.lines.all())
    refund_lines(alpha, order, [(line.pk, line.amount_paid)], deliver_events)
    assert balances(alpha, sharer)["clawback_debt"] == -1000
    with in_shop(alpha):
        withdrawals.withdrawal_review(w, approve=False, actor="staff:1", reason="no")
    b = balances(alpha, sharer)
    assert (b["available"], b["withdrawing"], b["clawback_debt"]) == (0, 0, 0)
    with in_shop(alpha), pytest.raises(ValidationError):
        withdrawals.withdrawal_request(sharer, BANK)
    sound(alpha)


def test_no_withdrawal_while_a_debt_is_owed(alpha: Any, deliver_events: Any) -> None:
    from django.core.exceptions import ValidationError

    from distribution import ledger, withdrawals
    from distribution.ledger import Posting
    from distribution.models import Account

    sharer, _order = _earn(alpha, deliver_events)
    with in_shop(alpha):  # a debt next to an available balance (data from before the fix)
        keys = [(sharer.pk, Account.CLAWBACK_DEBT), (None, Account.COMMISSION_EXPENSE)]
        ledger.post(
            [Posting("clawback", "test:debt", "test", [(keys[0], -300), (keys[1], 300)])], ledger.lock_accounts(keys)
        )
        with pytest.raises(ValidationError) as caught:
            withdrawals.withdrawal_request(sharer, BANK)
    assert "amount" in caught.value.message_dict
    assert balances(alpha, sharer)["available"] == 1000
    sound(alpha)


# --- 4. Stripe Connect: never paid twice -----------------------------------------------------
TIMEOUT = ("POST", "/v1/transfers", 500, {"error": {"type": "api_error", "message": "timeout?"}})
NO_TRANSFER = ("GET", "/v1/transfers", 200, {"object": "list", "url": "/v1/transfers", "has_more": False, "data": []})


def test_no_manual_failed_while_a_stripe_transfer_may_exist(
    alpha: Any,
    stripe_boundary: Any,  # noqa: F811
    deliver_events: Any,
) -> None:
    from distribution.models import Withdrawal
    from tests.distribution.test_stripe_payout import _setup
    from tests.distribution.test_withdrawals import _act

    sharer, pk = _setup(alpha, deliver_events)
    stripe_boundary([NO_TRANSFER, TIMEOUT, TIMEOUT, TIMEOUT])
    assert _act(alpha, pk, {"action": "paid"}).status_code == 400
    with in_shop(alpha):
        assert Withdrawal.objects.get(pk=pk).status == "paying"
    # Stripe gives no answer about the transfer: not failed
    stripe_boundary([("GET", "/v1/transfers", 500, {"error": {"type": "api_error", "message": "down"}})] * 3)
    refused = _act(alpha, pk, {"action": "failed", "reason": "stripe did not answer"})
    assert refused.status_code == 400
    assert balances(alpha, sharer)["withdrawing"] == 500
    # Stripe holds the transfer: paid with it, never failed
    found = {
        "object": "list",
        "url": "/v1/transfers",
        "has_more": False,
        "data": [
            {
                "id": "tr_1Made",
                "object": "transfer",
                "amount": 495,
                "reversed": False,
                "metadata": {"tenant_schema": "shop_alpha", "withdrawal_id": str(pk)},
            }
        ],
    }
    http = stripe_boundary([("GET", "/v1/transfers", 200, found)])
    paid = _act(alpha, pk, {"action": "failed", "reason": "stripe did not answer"})
    assert paid.status_code == 200 and (paid.json()["status"], paid.json()["reference"]) == ("paid", "tr_1Made")
    assert [r["method"] for r in http.requests] == ["GET"]
    b = balances(alpha, sharer)
    assert (b["available"], b["withdrawing"], b["paid_out"]) == (500, 0, 495)
    sound(alpha)


def test_a_retry_looks_the_transfer_up_then_sends_a_new_attempt(
    alpha: Any,
    stripe_boundary: Any,  # noqa: F811
    deliver_events: Any,
) -> None:
    from distribution.models import Withdrawal
    from tests.distribution.test_stripe_payout import _setup
    from tests.distribution.test_withdrawals import _act

    sharer, pk = _setup(alpha, deliver_events)
    stripe_boundary([NO_TRANSFER, TIMEOUT, TIMEOUT, TIMEOUT])
    assert _act(alpha, pk, {"action": "paid"}).status_code == 400
    none = {"object": "list", "url": "/v1/transfers", "has_more": False, "data": []}
    http = stripe_boundary(
        [
            ("GET", "/v1/transfers", 200, none),
            ("POST", "/v1/transfers", 200, {"id": "tr_2Payout", "object": "transfer", "amount": 495}),
        ]
    )
    paid = _act(alpha, pk, {"action": "paid"})
    assert paid.status_code == 200 and paid.json()["status"] == "paid", paid.content
    lookup, sent = http.requests
    assert (lookup["method"], sent["method"]) == ("GET", "POST")
    assert sent["headers"]["Idempotency-Key"] == f"shop_alpha-withdrawal-{pk}-1"
    with in_shop(alpha):
        w = Withdrawal.objects.get(pk=pk)
        assert (w.attempt, w.transfer_id) == (1, "tr_2Payout")
    assert balances(alpha, sharer)["paid_out"] == 495
    sound(alpha)


def test_stripe_confirms_no_transfer_then_manual_failed_gives_funds_back(
    alpha: Any,
    stripe_boundary: Any,  # noqa: F811
    deliver_events: Any,
) -> None:
    from tests.distribution.test_stripe_payout import _setup
    from tests.distribution.test_withdrawals import _act

    sharer, pk = _setup(alpha, deliver_events)
    stripe_boundary([NO_TRANSFER, TIMEOUT, TIMEOUT, TIMEOUT])
    assert _act(alpha, pk, {"action": "paid"}).status_code == 400
    none = {"object": "list", "url": "/v1/transfers", "has_more": False, "data": []}
    stripe_boundary([("GET", "/v1/transfers", 200, none)])
    failed = _act(alpha, pk, {"action": "failed", "reason": "account closed"})
    assert failed.status_code == 200 and failed.json()["status"] == "failed"
    assert balances(alpha, sharer)["available"] == 1000
    sound(alpha)


# --- 6. the catch-up and closed orders ------------------------------------------------------
def test_the_catch_up_pays_nothing_on_a_closed_order(alpha: Any, deliver_events: Any) -> None:
    from django.utils import timezone

    from distribution import commission
    from distribution.models import OrderCommission
    from distribution.receivers import current_tenant
    from shop.orders import services as orders
    from tests.aftersales.conftest import paid_order

    configure(alpha, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(alpha)
    order = paid_order(alpha, bound_buyer(alpha, sharer), [(10_000, 1)])  # order_paid never delivered
    with in_shop(alpha):
        with deliver_events():
            orders.order_close(order, actor="system", note="group failed, refunded")
        assert commission.commission_catch_up(current_tenant(), now=timezone.now() + timedelta(minutes=10)) == 1
        assert OrderCommission.objects.get(order=order).lines == 0
    assert balances(alpha, sharer)["pending"] == 0
    assert lines_of(alpha, order) == []


def test_the_catch_up_takes_back_a_cancelled_orders_commission(
    alpha: Any, deliver_events: Any, monkeypatch: Any
) -> None:
    from django.utils import timezone

    from distribution import commission, settlement
    from distribution.receivers import current_tenant
    from shop.orders import services as orders
    from shop.payments import services as payments
    from shop.payments.allocation import RefundFor
    from shop.payments.models import Payment

    configure(alpha, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(alpha)
    order = pay(alpha, bound_buyer(alpha, sharer), [(10_000, 1)], deliver_events)

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("lost")

    with monkeypatch.context() as patched:
        patched.setattr(settlement, "commission_refunds_sync", broken)
        with in_shop(alpha), deliver_events():  # a failed group buy: everything refunded, the order closed
            payment = Payment.objects.get(order=order)
            payments.refund_payment(
                payment,
                payment.amount,
                "group failed",
                "system",
                reference="bank 1",
                refund_for=RefundFor(everything=True),
            )
            orders.order_close(order, actor="system", note="closed")  # the receivers fail, logged
    assert balances(alpha, sharer)["pending"] == 1000
    with in_shop(alpha):
        commission.commission_catch_up(current_tenant(), now=timezone.now() + timedelta(minutes=10))
    assert balances(alpha, sharer)["pending"] == 0
    sound(alpha)


# --- 8. lock order ---------------------------------------------------------------------------
def test_refunds_caught_up_after_the_accrual_committed(alpha: Any, deliver_events: Any, monkeypatch: Any) -> None:
    from django.db import connection

    from distribution import commission
    from distribution.receivers import current_tenant
    from tests.aftersales.conftest import paid_order

    configure(alpha, rate_level1_bp=1000, hold_days=0)
    sharer = distributor(alpha)
    order = paid_order(alpha, bound_buyer(alpha, sharer), [(10_000, 1)])
    depth: list[int] = []
    from distribution import settlement

    monkeypatch.setattr(
        settlement, "commission_sync_order", lambda order, **kw: depth.append(len(connection.atomic_blocks))
    )
    with in_shop(alpha):
        outside = len(connection.atomic_blocks)
        made = commission.commission_for_order(current_tenant(), order)
    assert made and depth == [outside]  # not inside the accrual's transaction
    assert balances(alpha, sharer)["pending"] == 1000


# --- 7. never more than the base ------------------------------------------------------------
def test_all_levels_together_never_earn_more_than_the_base(beta: Any, deliver_events: Any) -> None:
    from shop.orders import services
    from shop.payments import services as payments
    from tests.orders.conftest import product

    configure(beta, levels=2, rate_level1_bp=1000, rate_level2_bp=500, hold_days=0)
    top = distributor(beta)
    mid = distributor(beta, top)
    buyer = bound_buyer(beta, mid)
    sku = product(beta, price=10_000, stock=10, name="Hot")
    with in_shop(beta):
        pid = sku.product_id
    configure(
        beta,
        overrides=[
            {"scope": "product", "target": pid, "level": 1, "mode": "percent", "rate_bp": 9000},
            {"scope": "product", "target": pid, "level": 2, "mode": "fixed", "amount": 5000},
        ],
    )
    with in_shop(beta), deliver_events():
        order = services.order_create(
            buyer, items=[(sku.pk, 1, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
        )
        payments.offline_confirm(order, amount=order.payable, actor="staff:1")
    assert [(line.level, line.amount) for line in lines_of(beta, order)] == [(1, 9000), (2, 1000)]  # not 5000
    sound(beta)


def test_rates_summing_over_100_percent_are_refused(beta: Any) -> None:
    from django.core.exceptions import ValidationError

    from tests.orders.conftest import product

    sku = product(beta, price=10_000, stock=10, name="Hot")
    with in_shop(beta):
        pid = sku.product_id
    with pytest.raises(ValidationError) as caught:
        configure(
            beta,
            levels=2,
            overrides=[
                {"scope": "product", "target": pid, "level": 1, "mode": "percent", "rate_bp": 6000},
                {"scope": "product", "target": pid, "level": 2, "mode": "percent", "rate_bp": 5000},
            ],
        )
    assert "overrides" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        configure(beta, levels=2, grades=[{"name": "金牌", "rank": 1, "rates_bp": [6000, 5000]}])
    assert "grades" in caught.value.message_dict


# --- 9. team dividends within the levels ----------------------------------------------------
def test_team_dividends_count_only_the_downline_within_the_levels(beta: Any, deliver_events: Any) -> None:
    from datetime import datetime

    from django.utils import timezone

    from distribution import dividends, settlement
    from distribution.models import CommissionLine
    from tests.distribution.conftest import chain

    configure(
        beta,
        levels=2,
        rate_level1_bp=1000,
        rate_level2_bp=100,
        hold_days=0,
        team_dividend_enabled=True,
        grades=[{"name": "团长", "rank": 1, "dividend_bp": 200, "min_direct_invitees": 1}],
    )
    leader, mid, bottom = chain(beta, 3)
    order = pay(beta, bound_buyer(beta, bottom), [(30_000, 1)], deliver_events)
    complete(beta, order)
    with in_shop(beta):
        assert settlement.settle_due() == 2
        CommissionLine.objects.filter(order=order).update(settled_at=timezone.make_aware(datetime(2026, 3, 15, 12)))
        paid = dividends.dividends_for_month(beta, timezone.make_aware(datetime(2026, 4, 2, 9)))
    assert paid == {mid.pk: 600}  # the leader is 3 levels above the sale: beyond the shop's 2
    sound(beta)


def test_no_second_payout_nor_failed_while_one_is_asking_stripe(
    alpha: Any,
    stripe_boundary: Any,  # noqa: F811
    deliver_events: Any,
) -> None:
    import psycopg2
    from django.db import connection

    from tests.distribution.test_stripe_payout import _setup
    from tests.distribution.test_withdrawals import _act

    sharer, pk = _setup(alpha, deliver_events)
    http = stripe_boundary([])
    other = psycopg2.connect(**connection.get_connection_params())  # another process's payout, in flight
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"shop_alpha-withdrawal-payout-{pk}"])
        assert _act(alpha, pk, {"action": "paid"}).status_code == 400
        assert _act(alpha, pk, {"action": "failed", "reason": "x"}).status_code == 400
    finally:
        other.close()
    assert http.requests == []
    assert balances(alpha, sharer)["withdrawing"] == 500
