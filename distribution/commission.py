"""Commission: computed when an order is paid, reversed pro rata on refunds, settled when
due (``settlement``).

Who earns: with self-purchase on and the buyer an active distributor, the buyer is level
1 and their uplines follow; otherwise the buyer's own distributor parent (if the buyer is a
distributor) or the distributor the buyer is validly bound to is level 1, then that one's
uplines. Levels stop at the shop's setting, bounded by its plan and the legal cap.
A frozen, banned or pending upline earns nothing at its level, and the level is not
passed on to the next one up (the chain keeps its levels: level 2 stays level 2).

Rate precedence for each line and level: SKU > product > category > grade > default;
an override is a percent (bp) of the base or a fixed amount × quantity (never more than the
base). All levels of a line together never earn more than the shop's commission cap, a
share of the base (``commission_cap_bp``, 100% by default): any excess comes off the
highest level first, and each line keeps the cap and what its rule gave before it
(``capped_from``) to explain it (the settings also refuse grade or override rates summing
over 100%). Base: the order line's ``amount_paid`` (after discounts, without shipping).
Amounts round down to the fen. A paid order found cancelled when its commission is
decided earns nothing (decided with 0 lines).

Queries are constant whatever the tree's depth: the uplines come from the path of the
first earner in one query.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from distribution import ledger
from distribution.ledger import Posting
from distribution.models import (
    BP,
    Account,
    CommissionLine,
    DistributionSettings,
    Distributor,
    OrderCommission,
    RateOverride,
)
from platform_core.features import DISTRIBUTION_LEVEL_CAP, feature_value

D = Distributor.Status
R = CommissionLine.RateSource
log = logging.getLogger(__name__)


def effective_levels(tenant: Any, settings: DistributionSettings) -> int:
    plan = int(feature_value(tenant, "distribution_levels") or 1) if tenant is not None else 1
    return max(1, min(settings.levels, plan, DISTRIBUTION_LEVEL_CAP))


def earners(buyer: Any, levels: int, settings: DistributionSettings) -> list[tuple[int, Distributor | None, bool]]:
    """[(level, distributor or None when that upline may not earn, self_purchase)]."""
    from distribution.services import valid_binding

    own = Distributor.objects.select_related("parent").filter(member=buyer).first()
    first: Distributor | None
    if own is not None and own.status == D.ACTIVE and settings.self_purchase:
        first, self_purchase = own, True
    elif own is not None and own.status != D.REJECTED:
        first, self_purchase = own.parent, False  # a distributor's referrer is their parent
    else:
        binding = valid_binding(buyer)
        first, self_purchase = (binding.distributor if binding else None), False
    if first is None or not first.path:
        return []
    ids = [int(label) for label in first.path.split(".")][::-1][:levels]  # first, its parent, …
    found = {d.pk: d for d in Distributor.objects.select_related("grade").filter(pk__in=ids)}
    chain: list[tuple[int, Distributor | None, bool]] = []
    for n, pk in enumerate(ids, start=1):
        upline = found.get(pk)
        ok = (
            upline is not None
            and upline.status == D.ACTIVE
            and (upline.member_id != buyer.pk or (n == 1 and self_purchase))
        )
        chain.append((n, upline if ok else None, self_purchase and n == 1))
    return chain


def _rate(
    line: Any,
    level: int,
    distributor: Distributor,
    settings: DistributionSettings,
    overrides: dict[Any, RateOverride],
    product_category: Mapping[int, int | None],
) -> tuple[str, int | None, int | None]:
    category = product_category.get(line.product_id_snapshot)
    for scope, target in (("sku", line.sku_id), ("product", line.product_id_snapshot), ("category", category)):
        found = overrides.get((scope, target, level)) if target is not None else None
        if found is not None:
            if found.mode == RateOverride.Mode.FIXED:
                return scope, None, found.amount
            return scope, found.rate_bp, None
    grade = distributor.grade
    if grade is not None and grade.level_rate(level) is not None:
        return R.GRADE, grade.level_rate(level), None
    return R.DEFAULT, settings.level_rate(level), None


def commission_for_order(tenant: Any, order: Any) -> list[CommissionLine]:
    """Compute and record the commission of a paid order, in one transaction with its
    ledger postings. Idempotent: a second call (the event delivered again) does nothing."""
    from shop.catalogue.models import Product

    if OrderCommission.objects.filter(order_id=order.pk).exists():
        return []  # decided before: the event again
    settings = DistributionSettings.current()
    levels = effective_levels(tenant, settings)
    chain = [c for c in earners(order.member, levels, settings) if c[1] is not None] if settings.enabled else []
    lines = list(order.lines.all()) if chain else []
    product_category = (
        dict(
            Product.objects.filter(pk__in={line.product_id_snapshot for line in lines}).values_list("pk", "category_id")
        )
        if lines
        else {}
    )
    targets = (
        [("sku", line.sku_id) for line in lines]
        + [("product", line.product_id_snapshot) for line in lines]
        + [("category", c) for c in product_category.values() if c is not None]
    )
    overrides: dict[Any, RateOverride] = {}
    if lines and RateOverride.objects.exists():
        from django.db.models import Q

        q = Q(pk__in=[])
        for scope in ("sku", "product", "category"):
            q |= Q(scope=scope, target_id__in=[t for s, t in targets if s == scope])
        overrides = {(o.scope, o.target_id, o.level): o for o in RateOverride.objects.filter(q)}
    made: list[CommissionLine] = []
    for line in lines:
        of_line: list[CommissionLine] = []
        for level, distributor, self_purchase in chain:
            assert distributor is not None
            source, rate, fixed = _rate(line, level, distributor, settings, overrides, product_category)
            if fixed is not None:
                amount = min(fixed * line.quantity, line.amount_paid)
            else:
                amount = line.amount_paid * int(rate or 0) // BP
            if amount <= 0:
                continue
            of_line.append(
                CommissionLine(
                    order=order,
                    order_line=line,
                    distributor=distributor,
                    buyer=order.member,
                    level=level,
                    self_purchase=self_purchase,
                    rate_source=source,
                    rate_bp=rate,
                    fixed_amount=fixed,
                    quantity=line.quantity,
                    base=line.amount_paid,
                    grade_name=distributor.grade.name if distributor.grade else "",
                    amount=amount,
                )
            )
        # all levels together never earn more than the shop's cap (a share of the line's
        # paid amount, never more than all of it): the excess comes off the highest level first
        cap = line.amount_paid * min(settings.commission_cap_bp, BP) // BP
        excess = sum(c.amount for c in of_line) - cap
        for c in sorted(of_line, key=lambda c: -c.level):
            cut = min(max(0, excess), c.amount)
            c.cap_bp = settings.commission_cap_bp
            if cut:
                c.capped_from, c.amount = c.amount, c.amount - cut
            excess -= cut
        made += [c for c in of_line if c.amount > 0]
    from shop.orders.models import Order

    with transaction.atomic():
        # a paid order closed meanwhile (refunded in full, a failed group buy, …) earns
        # nothing: decided with 0 lines (the catch-up scan must not pay it later)
        status = Order.objects.select_for_update().filter(pk=order.pk).values_list("status", flat=True).first()
        if status in (None, Order.Status.CANCELLED):
            made = []
        # the marker first: a concurrent second delivery waits here, then finds it
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO distribution_ordercommission (order_id, lines, computed_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (order_id) DO NOTHING RETURNING id",
                [order.pk, len(made)],
            )
            if cursor.fetchone() is None:
                return []
        if not made:
            return []
        CommissionLine.objects.bulk_create(made)
        add_own_sales([(r.distributor_id, r.base) for r in made if r.level == 1])
        keys = {(r.distributor_id, Account.PENDING) for r in made} | {(None, Account.COMMISSION_EXPENSE)}
        accounts = ledger.lock_accounts(keys)
        ledger.post(
            [
                Posting(
                    kind="accrue",
                    key=f"accrue:{r.pk}",
                    reference=f"order:{order.number}",
                    entries=[
                        ((None, Account.COMMISSION_EXPENSE), -r.amount),
                        ((r.distributor_id, Account.PENDING), r.amount),
                    ],
                    commission_line_id=r.pk,
                )
                for r in made
            ],
            accounts,
        )
    # after the accrual committed, in its own transaction (the expense account is not held
    # while distributors' accounts are locked: the lock order of the refunds' sync). Events
    # may arrive out of order: money already back for a line is taken back now.
    try:
        from distribution.settlement import commission_sync_order

        commission_sync_order(order, reason="accrued")
    except Exception:  # noqa: BLE001 - the accrual stands; the catch-up scan applies the refunds
        log.exception("distribution: refunds of order %s left to the catch-up", order.pk)
    return made


def commission_catch_up(tenant: Any, now: datetime | None = None) -> int:
    """Orders paid in the last two days whose commission was never decided (the event was
    lost or its receiver failed), and the refunds that succeeded and the paid orders
    cancelled in that window (their events may have failed too): applied now.
    Idempotent. Returns the orders computed."""
    from distribution.settlement import commission_sync_order, commission_sync_refund
    from shop.orders.models import Order
    from shop.payments.models import Refund

    now = now or timezone.now()
    window = (now - timedelta(days=2), now - timedelta(minutes=5))
    decided = OrderCommission.objects.filter(order_id=OuterRef("pk"))
    missing = (
        Order.objects.filter(paid_at__range=window)
        .exclude(status=Order.Status.UNPAID)
        .filter(~Exists(decided))
        .select_related("member")
        .order_by("id")[:500]
    )
    count = 0
    for order in missing:
        commission_for_order(tenant, order)  # (a cancelled one is decided with 0 lines)
        count += 1
    # paid orders cancelled in the window (their event's receiver may have failed)
    cancelled = Order.objects.filter(
        status=Order.Status.CANCELLED, paid_at__isnull=False, cancelled_at__range=window
    ).filter(Exists(CommissionLine.objects.filter(order_id=OuterRef("pk"))))
    for order in _paged(cancelled):
        commission_sync_order(order, reason="cancelled")
    refunds = Refund.objects.filter(status=Refund.Status.SUCCEEDED, updated_at__range=window)
    for refund in _paged(refunds):
        commission_sync_refund(refund)
    return count


def _paged(queryset: Any, size: int = 500) -> Any:
    """Every row of ``queryset``, by id, ``size`` at a time (none left out however many)."""
    last = 0
    while True:
        page = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        yield from page
        if len(page) < size:
            return
        last = page[-1].pk


def preview(product: Any, distributor: Distributor | None) -> list[dict[str, Any]]:
    """What one unit of each active SKU of ``product`` would earn at level 1, on the price
    a buyer pays for it now (a running limited-time discount or flash sale's price); the
    real base is what the buyer pays, after every discount."""
    from shop.marketing.selectors import pay_now_prices

    settings = DistributionSettings.current()
    skus = list(product.skus.filter(is_active=True).order_by("id"))
    prices = pay_now_prices(skus)
    targets = [("sku", s.pk) for s in skus] + [("product", product.pk)]
    if product.category_id:
        targets.append(("category", product.category_id))
    from django.db.models import Q

    q = Q(pk__in=[])
    for scope, target in targets:
        q |= Q(scope=scope, target_id=target, level=1)
    overrides = {(o.scope, o.target_id, o.level): o for o in RateOverride.objects.filter(q)}
    who = distributor or Distributor(grade=None)
    out = []
    for sku in skus:
        line = type("Line", (), {"sku_id": sku.pk, "product_id_snapshot": product.pk})()
        source, rate, fixed = _rate(line, 1, who, settings, overrides, {product.pk: product.category_id})
        price = prices[sku.pk]
        amount = min(fixed, price) if fixed is not None else price * int(rate or 0) // BP
        amount = min(amount, price * min(settings.commission_cap_bp, BP) // BP)
        out.append({"sku": sku.pk, "price": price, "commission": amount, "source": source})
    return out


def add_own_sales(deltas: list[tuple[int, int]]) -> None:
    """Keep ``Distributor.own_sales`` (level-1 bases net of refunds) with the lines that
    change it, in their transaction: one statement, rows in id order."""
    totals: dict[int, int] = {}
    for distributor_id, delta in deltas:
        totals[distributor_id] = totals.get(distributor_id, 0) + delta
    totals = {k: v for k, v in totals.items() if v}
    if not totals:
        return
    values = ", ".join(["(%s, %s)"] * len(totals))
    params: list[int] = [x for pair in sorted(totals.items()) for x in pair]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE distribution_distributor d SET own_sales = d.own_sales + v.delta "  # noqa: S608 - placeholders only
            f"FROM (VALUES {values}) AS v(id, delta) WHERE d.id = v.id",
            params,
        )
