"""The data migration that backfills what existing refunds were for, per order line, from
the records they left before refunds were recorded per line: a duplicate payment's
automatic refund is for nothing of the order, order-page refunds are spread by the rule,
an after-sale's refund is for its lines but never beyond what a line has left (the
excess of an after-sale made before an earlier order-page refund goes by the rule)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from django.db import connection
from django.db.migrations import RunPython
from django.db.migrations.loader import MigrationLoader

from tests.conftest import in_shop
from tests.distribution import money
from tests.orders.conftest import member

pytestmark = pytest.mark.django_db
MIGRATION = ("payments", "0004_backfill_refund_lines")


@pytest.fixture
def deliver_events(django_capture_on_commit_callbacks: Any) -> Any:
    @contextmanager
    def run() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run


def _backfill() -> None:
    """Run the migration's code with the models as they stood at that migration."""
    loader = MigrationLoader(connection)
    state = loader.project_state(MIGRATION, at_end=False)
    (operation,) = loader.get_migration(*MIGRATION).operations
    assert isinstance(operation, RunPython)
    operation.code(state.apps, cast(Any, None))  # (the backfill uses the ORM only)


def _as_before(order: Any) -> None:
    """The records as the refunds left them before they were kept per line."""
    from shop.payments.models import Payment, RefundLine

    RefundLine.objects.filter(refund__payment__order=order).delete()
    order.lines.update(refunded_amount=0, refunded_quantity=0)
    type(order).objects.filter(pk=order.pk).update(shipping_refunded=0)
    Payment.objects.filter(order=order).update(pays_order=True)


def _parts(order: Any) -> list[tuple[int, str, str, int, int]]:
    from shop.payments.models import RefundLine

    names = dict(order.lines.values_list("pk", "product_name"))
    return [
        (p.refund_id, p.kind, names.get(p.order_line_id, "-"), p.amount, p.quantity)
        for p in RefundLine.objects.filter(refund__payment__order=order).order_by("refund_id", "id")
    ]


def test_the_backfill_rebuilds_what_the_services_record(alpha: Any, deliver_events: Any) -> None:
    """Order-page refunds (30.00 then 32.20 of 62.20 of goods) and a duplicate payment's
    automatic refund: the backfill finds exactly what the services recorded."""
    from shop.payments.models import Payment

    tea, teapot = money.skus(alpha, ("Tea", 2666), ("Teapot", 888))
    money.shipping(alpha, 800)
    placed = money.order(alpha, member(alpha, "13900002222"), [(tea, 2), (teapot, 1)])
    money.start_card_payment(alpha, placed)
    money.confirm_offline(alpha, placed, deliver_events)
    money.duplicate_card_payment(alpha, placed, deliver_events)
    money.order_page_refund(alpha, placed, "30.00", deliver_events)
    money.order_page_refund(alpha, placed, "32.20", deliver_events)
    with in_shop(alpha):
        recorded = _parts(placed)
        figures = list(placed.lines.order_by("id").values_list("refunded_amount", "refunded_quantity"))
        assert figures == [(5332, 2), (888, 1)]
        _as_before(placed)
        _backfill()
        assert _parts(placed) == recorded
        assert list(placed.lines.order_by("id").values_list("refunded_amount", "refunded_quantity")) == figures
        assert list(Payment.objects.filter(order=placed).order_by("id").values_list("provider", "pays_order")) == [
            ("stripe", False),
            ("offline", True),
        ]
        _backfill()  # run again: nothing twice
        assert _parts(placed) == recorded
    assert [f for f in money.findings(alpha) if f["code"] != "commission_reversal"] == []


def test_an_old_aftersale_beyond_the_line_is_clamped_and_the_excess_spread(alpha: Any, deliver_events: Any) -> None:
    """Defect 3 as the old code left it: 15.00 from the order page (1.12 of it the cup's),
    then an after-sale that refunded the cup's whole 18.12 again."""
    from django.db.models import F

    from shop.aftersales.models import AfterSale, AfterSaleLine
    from shop.payments.models import Payment, Refund
    from tests.aftersales.conftest import reason_id

    cup, tea = money.skus(alpha, ("Cup", 1812), ("Tea", 11190))
    money.reduction(alpha, 100, 3)
    money.shipping(alpha, 800)
    buyer = member(alpha, "13900003333")
    placed = money.confirm_offline(alpha, money.order(alpha, buyer, [(cup, 1), (tea, 2)]), deliver_events)
    money.order_page_refund(alpha, placed, "15.00", deliver_events)
    rid = reason_id(alpha)
    with in_shop(alpha):
        cup_line = placed.lines.order_by("id").first()
        payment = Payment.objects.get(order=placed)
        aftersale = AfterSale.objects.create(
            order=placed, member=buyer, kind="refund_only", reason_id=rid, refund_amount=1812, status="refunded"
        )
        AfterSaleLine.objects.create(aftersale=aftersale, order_line=cup_line, quantity=1, amount=1812)
        failed = Refund.objects.create(
            payment=payment, amount=1812, status="failed", idempotency_key=f"aftersale-{aftersale.pk}-0-{payment.pk}"
        )
        done = Refund.objects.create(
            payment=payment, amount=1812, status="succeeded", idempotency_key=f"aftersale-{aftersale.pk}-1-{payment.pk}"
        )
        aftersale.refunds.add(failed, done)
        Payment.objects.filter(pk=payment.pk).update(refunded_amount=F("refunded_amount") + 1812)
        _as_before(placed)
        _backfill()
        first = Refund.objects.filter(payment=payment).order_by("id")[0]
        assert _parts(placed) == [
            (first.pk, "goods", "Cup", 112, 0),
            (first.pk, "goods", "Tea", 1388, 0),
            (failed.pk, "goods", "Cup", 1700, 1),  # a failed attempt keeps its parts, counts for nothing
            (failed.pk, "goods", "Tea", 112, 0),
            (done.pk, "goods", "Cup", 1700, 1),
            (done.pk, "goods", "Tea", 112, 0),  # the 1.12 the cup had already got back: the tea's
        ]
        assert list(placed.lines.order_by("id").values_list("refunded_amount", "refunded_quantity")) == [
            (1812, 1),
            (1500, 0),
        ]
    assert money.findings(alpha) == []
