"""Commission after payment: reversal on refunds and settlement when due.

Refunds (``commission_refunds_sync``): commission follows the money that went back for
each order line, as the commerce core records it per line (``shop.payments.allocation``:
every refund, whatever its path, says what it was for). For each commission line of an
order line, what is taken back is ``amount × refunded ÷ base`` rounded down, and all of
``amount`` once the line is fully refunded, where *refunded* is the money back for that
order line (succeeded refunds; a pending one waits, a failed one gave nothing back).
It is computed on the cumulative figure, so repeated partial refunds never drift nor
exceed the commission, and a repeated event takes nothing twice (each posting is keyed
by the commission line and the refunded figure it brings it to). A refund of a payment
that never paid for the goods (a duplicate, a late payment on a cancelled order), or of
shipping only, is for no order line and takes nothing back. While pending, commission
is reversed from ``pending``; once settled it is clawed back from ``available``, and
what ``available`` lacks becomes ``clawback_debt`` — never capped, never lost; later
settlements repay the debt first.

Settlement (``settle_due``): a pending line is due when its order completed (which is
after the after-sales window) ``hold_days`` ago, no after-sale is open on its order line,
no refund of it is still pending, and — in monthly mode — it was due by the latest
settlement day. Batches of lines are settled each in one transaction, the lines locked
(skipping those a refund holds) and moved with a ``status='pending'`` guard, each
posting keyed by its line: a run killed at any point and run again settles nothing twice.

Lock order everywhere: commission lines by id, then ledger accounts by id.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from distribution import ledger
from distribution.ledger import Posting
from distribution.models import Account, CommissionLine, DistributionSettings

C = CommissionLine.Status
EXPENSE = (None, Account.COMMISSION_EXPENSE)


def taken_back(amount: int, refunded: int, base: int) -> int:
    """The documented rounding: ``amount × refunded ÷ base`` rounded down, all of it once
    the line is fully refunded."""
    if base <= 0 or refunded >= base:
        return amount
    return amount * refunded // base


def commission_refunds_sync(order_line_ids: Iterable[int], *, reference: str) -> int:
    """Take back the commission of these order lines that the money back for them calls
    for (``reference`` names what prompted it, e.g. "refund:12"). Idempotent; returns the
    fen taken back by this call."""
    from shop.payments.selectors import refunded_back

    ids = sorted(set(order_line_ids))
    if not ids:
        return 0
    total = 0
    with transaction.atomic():
        lines = list(CommissionLine.objects.select_for_update().filter(order_line_id__in=ids).order_by("id"))
        if not lines:
            return 0
        back = refunded_back(ids)  # read under the lines' locks: a concurrent sync waits, then sees ours
        todo = [line for line in lines if min(line.base, back.get(line.order_line_id, 0)) > line.refunded_base]
        if not todo:
            return 0
        wanted: set[ledger.Key] = {EXPENSE}
        for line in todo:
            wanted |= {(line.distributor_id, k) for k in (Account.PENDING, Account.AVAILABLE, Account.CLAWBACK_DEBT)}
        accounts = ledger.lock_accounts(wanted)
        available = {k[0]: a.balance for k, a in accounts.items() if k[1] == Account.AVAILABLE}
        postings = []
        sales_back: list[tuple[int, int]] = []
        for line in todo:
            refunded = min(line.base, back.get(line.order_line_id, 0))
            if line.level == 1:
                sales_back.append((line.distributor_id, line.refunded_base - refunded))
            take = max(0, taken_back(line.amount, refunded, line.base) - line.reversed_amount - line.clawed_back)
            line.refunded_base = refunded
            entries: list[tuple[ledger.Key, int]] = []
            kind = "reverse"
            if take and line.status == C.PENDING:
                entries = [((line.distributor_id, Account.PENDING), -take), (EXPENSE, take)]
                line.reversed_amount += take
                if line.reversed_amount + line.clawed_back >= line.amount:
                    line.status = C.REVERSED
            elif take and line.status == C.SETTLED:
                kind = "clawback"
                from_available = min(take, max(0, available.get(line.distributor_id, 0)))
                available[line.distributor_id] = available.get(line.distributor_id, 0) - from_available
                entries = [
                    ((line.distributor_id, Account.AVAILABLE), -from_available),
                    ((line.distributor_id, Account.CLAWBACK_DEBT), -(take - from_available)),
                    (EXPENSE, take),
                ]
                line.clawed_back += take
            total += take
            postings.append(
                Posting(kind, f"refunded:{line.pk}:{refunded}", reference, entries, commission_line_id=line.pk)
            )
            line.save(update_fields=["refunded_base", "reversed_amount", "clawed_back", "status"])
        ledger.post(postings, accounts)
        from distribution.commission import add_own_sales

        add_own_sales(sales_back)
    return total


def commission_sync_refund(refund: Any) -> int:
    """A refund succeeded: the order lines it was for."""
    from shop.payments.selectors import refund_goods_lines

    return commission_refunds_sync(refund_goods_lines(refund), reference=f"refund:{refund.pk}")


def commission_sync_order(order: Any, *, reason: str = "order") -> int:
    """Every line of an order (a cancelled order, a catch-up)."""
    return commission_refunds_sync(
        order.lines.values_list("pk", flat=True), reference=f"{reason}:{getattr(order, 'number', order.pk)}"
    )


def cutoff(settings: DistributionSettings, now: datetime) -> datetime:
    """Lines due by this moment settle now: ``now`` per order; in monthly mode the start
    of the latest settlement day."""
    if settings.settlement_mode != DistributionSettings.Settlement.MONTHLY:
        return now
    local = timezone.localtime(now)
    day = local.replace(day=settings.settlement_day, hour=0, minute=0, second=0, microsecond=0)
    if day > local:
        previous = day.replace(day=1) - timedelta(days=1)
        day = previous.replace(day=settings.settlement_day)
    return day


def due_lines(now: datetime | None = None) -> Any:
    from shop.aftersales.models import OPEN, AfterSaleLine
    from shop.orders.models import Order
    from shop.payments.models import Refund, RefundLine

    settings = DistributionSettings.current()
    now = now or timezone.now()
    by = cutoff(settings, now) - timedelta(days=settings.hold_days)
    # an after-sale still open on the line, or a refund of it whose money is not back yet
    open_aftersale = AfterSaleLine.objects.filter(order_line_id=OuterRef("order_line_id"), aftersale__status__in=OPEN)
    waiting = RefundLine.objects.filter(order_line_id=OuterRef("order_line_id"), refund__status=Refund.Status.PENDING)
    return CommissionLine.objects.filter(
        status=C.PENDING,
        order__status=Order.Status.COMPLETED,
        order__completed_at__lte=by,
    ).filter(~Exists(open_aftersale), ~Exists(waiting))


def settle_due(now: datetime | None = None, batch: int = 500, deadline: float | None = None) -> int:
    """Settle every due line of this shop, ``batch`` lines per transaction, stopping after
    the batch that passes ``deadline`` (``time.monotonic()``; the caller runs again for the
    rest). Returns how many were settled by this run."""
    now = now or timezone.now()
    settled = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            return settled
        with transaction.atomic():
            lines = list(due_lines(now).select_for_update(skip_locked=True, of=("self",)).order_by("id")[:batch])
            if not lines:
                return settled
            settled += _settle(lines, now)


def _settle(lines: list[CommissionLine], now: datetime) -> int:
    distributors = {line.distributor_id for line in lines}
    wanted = {(d, k) for d in distributors for k in (Account.PENDING, Account.AVAILABLE, Account.CLAWBACK_DEBT)}
    accounts = ledger.lock_accounts(wanted)
    debt = {d: -accounts[(d, Account.CLAWBACK_DEBT)].balance for d in distributors}
    postings = []
    for line in lines:
        net = line.amount - line.reversed_amount
        repay = min(net, debt[line.distributor_id])
        debt[line.distributor_id] -= repay
        postings.append(
            Posting(
                "settle",
                f"settle:{line.pk}",
                f"order:{line.order_id}",
                [
                    ((line.distributor_id, Account.PENDING), -net),
                    ((line.distributor_id, Account.CLAWBACK_DEBT), repay),
                    ((line.distributor_id, Account.AVAILABLE), net - repay),
                ],
                commission_line_id=line.pk,
            )
        )
    # the batch in a constant number of statements (entries in one INSERT, every balance in
    # one guarded UPDATE): a refused balance raises and the batch's transaction rolls back
    ledger.post_batch(postings, accounts)
    return CommissionLine.objects.filter(pk__in=[line.pk for line in lines], status=C.PENDING).update(
        status=C.SETTLED, settled_at=now
    )
