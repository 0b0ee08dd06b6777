"""Commission after payment: reversal on refunds and settlement when due.

Refunds (``refund_lines``): for each refunded order line, every commission line of it is
taken back pro rata: the total taken back is ``amount × refunded / base`` rounded down,
and exactly ``amount`` once the whole line is refunded (computed on the cumulative refunded
base, so repeated partial refunds never drift nor exceed the commission). While pending it
is reversed from ``pending``; once settled it is clawed back from ``available``, and what
``available`` lacks becomes ``clawback_debt`` — never capped, never lost; later
settlements repay the debt first. An after-sale's refund is taken back once its money is
back (``refund_aftersale``); a refund from the order's payments with no after-sale behind
it (the merchant's order page) is spread over the order's lines (``refund_payment``).

Settlement (``settle_due``): a pending line is due when its order completed (which is
after the after-sales window) ``hold_days`` ago, no after-sale is open on its order line,
and — in monthly mode — it was due by the latest settlement day. (An after-sale refunded
while its refund is still pending holds its lines too: the commission is taken back only
once the money is back, ``refund_aftersale``.) Batches of lines are
settled each in one transaction, the lines locked (skipping those a refund holds) and
moved with a ``status='pending'`` guard, each posting keyed by its line: a run killed at
any point and run again settles nothing twice.

Lock order everywhere: commission lines by id, then ledger accounts by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from distribution import ledger
from distribution.ledger import Posting
from distribution.models import Account, CommissionLine, DistributionSettings, LedgerTransaction

C = CommissionLine.Status
EXPENSE = (None, Account.COMMISSION_EXPENSE)


def refund_lines(refunded: Iterable[tuple[int, int]], *, reference: str) -> int:
    """Take back commission for ``refunded`` = [(order line id, amount refunded)], once per
    ``reference`` (e.g. "aftersale:12"). Returns the fen taken back."""
    amounts: dict[int, int] = {}
    for line_id, amount in refunded:
        amounts[line_id] = amounts.get(line_id, 0) + amount
    if not amounts:
        return 0
    total = 0
    with transaction.atomic():
        lines = list(CommissionLine.objects.select_for_update().filter(order_line_id__in=amounts).order_by("id"))
        if not lines:
            return 0
        keys = {f"refund:{reference}:{line.pk}" for line in lines}
        done = set(LedgerTransaction.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
        todo = [line for line in lines if f"refund:{reference}:{line.pk}" not in done]
        wanted: set[ledger.Key] = {EXPENSE}
        for line in todo:
            wanted |= {(line.distributor_id, k) for k in (Account.PENDING, Account.AVAILABLE, Account.CLAWBACK_DEBT)}
        accounts = ledger.lock_accounts(wanted)
        available = {k[0]: a.balance for k, a in accounts.items() if k[1] == Account.AVAILABLE}
        postings = []
        sales_back: list[tuple[int, int]] = []
        for line in todo:
            refunded_base = min(line.base, line.refunded_base + amounts[line.order_line_id])
            if line.level == 1:
                sales_back.append((line.distributor_id, line.refunded_base - refunded_base))
            target = line.amount if refunded_base >= line.base else line.amount * refunded_base // line.base
            take = max(0, target - line.reversed_amount - line.clawed_back)
            line.refunded_base = refunded_base
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
                Posting(kind, f"refund:{reference}:{line.pk}", reference, entries, commission_line_id=line.pk)
            )
            line.save(update_fields=["refunded_base", "reversed_amount", "clawed_back", "status"])
        ledger.post(postings, accounts)
        from distribution.commission import add_own_sales

        add_own_sales(sales_back)
    return total


def money_back(aftersale: Any) -> bool:
    """The after-sale is refunded and none of its refunds still waits for the provider (a
    failed refund was superseded by a later attempt: only pending ones wait)."""
    from shop.aftersales.models import AfterSale
    from shop.payments.models import Refund

    return (
        aftersale.status == AfterSale.Status.REFUNDED
        and not aftersale.refunds.filter(status=Refund.Status.PENDING).exists()
    )


def refund_aftersale(aftersale: Any) -> int:
    """An after-sale was refunded: its lines say how much of each order line went back.
    Only once the money is actually back (a refund that later fails reopens the
    after-sale, which may then be rejected: its commission must still stand)."""
    from shop.aftersales.models import AfterSale

    current = AfterSale.objects.filter(pk=aftersale.pk).first()
    if current is None or not money_back(current):
        return 0
    rows = [(row.order_line_id, row.amount) for row in current.lines.all()]
    return refund_lines(rows, reference=f"aftersale:{current.pk}")


def refund_payment(order: Any, refund: Any) -> int:
    """A refund made from the order's payments with no after-sale behind it (the merchant's
    order page): the part of it beyond what the goods still have left to refund is shipping
    (taken out first); the goods share is spread over the order's lines by what each has
    left (largest remainder), then taken back like an after-sale's refund. Once per refund."""
    from shop.payments.models import Refund

    if refund.status != Refund.Status.SUCCEEDED or refund.aftersales.exists():
        return 0
    reference = f"payment_refund:{refund.pk}"
    order_lines = list(order.lines.order_by("id").values_list("pk", "amount_paid"))
    if not order_lines:
        return 0
    with transaction.atomic():
        # the order's commission lines locked first (the lock order of ``refund_lines``): a
        # second delivery waits, then finds this refund's postings and does nothing
        ids = list(
            CommissionLine.objects.select_for_update()
            .filter(order_id=order.pk)
            .order_by("id")
            .values_list("pk", flat=True)
        )
        if (
            not ids
            or LedgerTransaction.objects.filter(idempotency_key__in=[f"refund:{reference}:{pk}" for pk in ids]).exists()
        ):
            return 0
        return _refund_payment(order, order_lines, refund.amount, reference)


def _refund_payment(order: Any, order_lines: list[tuple[int, int]], amount: int, reference: str) -> int:
    from shop.aftersales.models import AfterSale, AfterSaleLine
    from shop.pricing import allocate

    refunded: dict[int, int] = {}
    for line_id, back in AfterSaleLine.objects.filter(
        aftersale__order=order, aftersale__status=AfterSale.Status.REFUNDED
    ).values_list("order_line_id", "amount"):
        refunded[line_id] = refunded.get(line_id, 0) + back
    for line_id, base in CommissionLine.objects.filter(order_line_id__in=[pk for pk, _a in order_lines]).values_list(
        "order_line_id", "refunded_base"
    ):
        refunded[line_id] = max(refunded.get(line_id, 0), base)
    left = [max(0, paid - refunded.get(pk, 0)) for pk, paid in order_lines]
    goods = min(amount, sum(left))  # the rest of the refund is shipping
    shares = allocate(goods, left)
    rows = [(pk, share) for (pk, _paid), share in zip(order_lines, shares, strict=True) if share > 0]
    return refund_lines(rows, reference=reference)


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

    settings = DistributionSettings.current()
    now = now or timezone.now()
    by = cutoff(settings, now) - timedelta(days=settings.hold_days)
    from shop.aftersales.models import AfterSale
    from shop.payments.models import Refund

    # an after-sale still open, or refunded while its money is not back yet
    waiting = Refund.objects.filter(aftersales=OuterRef("aftersale_id"), status=Refund.Status.PENDING)
    open_aftersale = AfterSaleLine.objects.filter(order_line_id=OuterRef("order_line_id")).filter(
        Q(aftersale__status__in=OPEN) | Q(Exists(waiting), aftersale__status=AfterSale.Status.REFUNDED)
    )
    return CommissionLine.objects.filter(
        status=C.PENDING,
        order__status=Order.Status.COMPLETED,
        order__completed_at__lte=by,
    ).filter(~Exists(open_aftersale))


def settle_due(now: datetime | None = None, batch: int = 500) -> int:
    """Settle every due line of this shop, ``batch`` lines per transaction. Returns how
    many were settled by this run."""
    now = now or timezone.now()
    settled = 0
    while True:
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
