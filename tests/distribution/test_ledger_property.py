"""Property: over random histories — orders paid, partial refunds before and after
settlement, settlements (rerun), withdrawals requested, rejected, paid or failed — every
ledger transaction balances, cached balances equal the sums of entries, nothing is settled
or paid twice, and no clawback is lost (what the distributors' accounts hold in total is
exactly the commission they earned net of what was taken back)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import in_shop
from tests.distribution.conftest import bound_buyer, chain, configure

pytestmark = pytest.mark.django_db

ops = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 50_000), st.integers(1, 4)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 4)),
        st.tuples(st.just("settle"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("withdraw"), st.integers(0, 1), st.integers(100, 5_000)),
        st.tuples(st.just("review"), st.integers(0, 1), st.sampled_from(["approve", "reject", "paid", "failed"])),
    ),
    min_size=1,
    max_size=20,
)


def _check(distributors: list[Any]) -> None:
    from distribution import ledger
    from distribution.models import Account, CommissionLine, LedgerAccount, LedgerTransaction, Withdrawal

    assert ledger.verify_balances() == []
    # nothing settled twice, nothing paid out twice
    settles = LedgerTransaction.objects.filter(kind="settle").values("commission_line").annotate(n=Count("id"))
    assert all(row["n"] == 1 for row in settles)
    assert (
        LedgerTransaction.objects.filter(kind="settle").count()
        == CommissionLine.objects.filter(settled_at__isnull=False).count()
    )
    paid = LedgerTransaction.objects.filter(kind="withdraw_paid").values("reference").annotate(n=Count("id"))
    assert all(row["n"] == 1 for row in paid)
    assert (
        LedgerTransaction.objects.filter(kind="withdraw_paid").count()
        == Withdrawal.objects.filter(status="paid").count()
    )
    for d in distributors:
        lines = CommissionLine.objects.filter(distributor=d)
        earned = sum(line.amount - line.reversed_amount - line.clawed_back for line in lines)
        held = LedgerAccount.objects.filter(distributor=d).aggregate(total=Sum("balance"))["total"] or 0
        fees = sum(w.fee for w in Withdrawal.objects.filter(distributor=d, status="paid"))
        assert held + fees == earned  # no clawback lost, no fen created
        pending = sum(line.amount - line.reversed_amount for line in lines if line.status == "pending")
        assert ledger.balances(d.pk)[Account.PENDING] == pending
        b = ledger.balances(d.pk)
        assert b[Account.AVAILABLE] >= 0 and b[Account.WITHDRAWING] >= 0 and b[Account.CLAWBACK_DEBT] <= 0
        open_amount = sum(
            w.amount for w in Withdrawal.objects.filter(distributor=d, status__in=["requested", "approved"])
        )
        assert b[Account.WITHDRAWING] == open_amount


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(history=ops)
# a refund after settlement when most of the money was withdrawn: the clawback exceeds available
@example(
    history=[
        ("pay", 10_000, 1),
        ("settle", 1, 0),
        ("withdraw", 1, 900),
        ("refund", 0, 1),
        ("pay", 20_000, 1),
        ("settle", 2, 0),
    ]
)
def test_random_histories_keep_the_ledger_sound(beta: Any, history: list[tuple[str, int, Any]]) -> None:
    from distribution import commission, settlement, withdrawals
    from shop.orders.models import Order, OrderLine
    from tests.orders.conftest import product

    with in_shop(beta), transaction.atomic():
        configure(
            beta,
            levels=2,
            rate_level1_bp=1000,
            rate_level2_bp=700,
            hold_days=0,
            withdrawal_minimum=100,
            withdrawal_fee_bp=150,
            withdrawal_methods=["shop_balance"],
        )
        root, child = chain(beta, 2)
        buyer = bound_buyer(beta, child)
        sku = product(beta, price=100, stock=10_000, name="Prop")
        orders: list[Any] = []
        from shop.catalogue.models import Sku
        from shop.orders import services as order_services
        from shop.payments import allocation
        from shop.payments import services as payments

        for n, (op, a, b) in enumerate(history):
            if op == "pay":
                Sku.objects.filter(pk=sku.pk).update(price=a)
                order = order_services.order_create(
                    buyer, items=[(sku.pk, b, None)], fulfilment="delivery", address_id=buyer.addresses.get().pk
                )
                payments.offline_confirm(order, amount=order.payable, actor="staff:1")
                order.refresh_from_db()
                commission.commission_for_order(beta, order)  # (the event, inside this test's transaction)
                orders.append(order)
            elif op == "refund" and orders:
                order = orders[a % len(orders)]
                line = OrderLine.objects.get(order=order)
                quantity = min(b, line.quantity - line.refunded_quantity)
                if quantity:  # the merchant refunds units of the line from the order page
                    payment = order.payments.get()
                    left = allocation.refundable(order).lines[line.pk]
                    refund = payments.refund_payment(
                        payment,
                        allocation.unit_value(left, quantity),
                        "",
                        "staff:1",
                        reference=f"prop:{n}",
                        refund_for=allocation.RefundFor(lines=((line.pk, quantity, None),)),
                    )
                    settlement.commission_sync_refund(refund)  # (the event, inside this test's transaction)
            elif op == "settle" and orders:
                due = orders[: a % (len(orders) + 1)]
                Order.objects.filter(pk__in=[o.pk for o in due]).update(
                    status="completed", completed_at=timezone.now() - timedelta(days=1)
                )
                settlement.settle_due()
                settlement.settle_due()  # a rerun settles nothing twice
            elif op == "withdraw":
                who = (root, child)[a]
                try:
                    withdrawals.withdrawal_request(who, {"amount": b, "method": "shop_balance"})
                except Exception as exc:  # noqa: BLE001 - refusals are fine; the ledger must stay sound
                    assert exc.__class__.__name__ == "ValidationError"
            elif op == "review":
                from distribution.models import Withdrawal

                w = Withdrawal.objects.filter(distributor=(root, child)[a]).order_by("-id").first()
                if w is not None:
                    try:
                        if b in ("approve", "reject"):
                            withdrawals.withdrawal_review(w, approve=b == "approve", actor="t", reason="r")
                        elif b == "paid":
                            withdrawals.withdrawal_paid(w, reference="ref", actor="t")
                        else:
                            withdrawals.withdrawal_failed(w, reason="bank said no", actor="t")
                    except Exception as exc:  # noqa: BLE001
                        assert exc.__class__.__name__ == "ValidationError"
            _check([root, child])
        transaction.set_rollback(True)
