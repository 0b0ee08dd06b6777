"""Team dividends for grade leaders (feature ``team_dividends``, switched on in the
settings): once per calendar month, each active distributor whose grade has a dividend
rate earns ``team sales × rate`` (rounded down), where team sales are what buyers paid
(net of refunds) on order lines whose level-1 commission in their team was settled in that
month. Posted straight to ``available`` (the lines behind it are settled already), keyed
by leader and month: rerunning pays nothing twice.

The team is bounded like commission (the 3-level legal ceiling): the leader and their
downline at most ``levels - 1`` below them (ltree depth difference), ``levels`` being the
shop's effective level cap (``commission.effective_levels``), so the leader is never more
than ``levels`` levels above a sale's first earner's level; deeper sales never count."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from distribution import ledger
from distribution.ledger import Posting
from distribution.models import BP, Account, DistributionSettings, Distributor
from platform_core.features import has_feature


def month_bounds(now: datetime) -> tuple[datetime, datetime, str]:
    """The previous calendar month (local time) as [start, end) and its label."""
    local = timezone.localtime(now)
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end.replace(day=1) - timedelta(days=1)).replace(day=1)
    return start, end, start.strftime("%Y-%m")


def dividends_for_month(tenant: Any, now: datetime | None = None) -> dict[int, int]:
    """Pay last month's dividends (idempotent). Returns {leader id: amount} paid by this run."""
    settings = DistributionSettings.current()
    if not (settings.enabled and settings.team_dividend_enabled and tenant is not None):
        return {}
    if not has_feature(tenant, "team_dividends"):
        return {}
    from distribution.commission import effective_levels

    levels = effective_levels(tenant, settings)
    start, end, label = month_bounds(now or timezone.now())
    leaders = list(
        Distributor.objects.select_related("grade").filter(
            status=Distributor.Status.ACTIVE, grade__dividend_bp__gt=0, path__isnull=False
        )
    )
    paid: dict[int, int] = {}
    for leader in leaders:
        assert leader.grade is not None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(sum(c.base - c.refunded_base), 0) FROM distribution_commissionline c "
                "JOIN distribution_distributor d ON d.id = c.distributor_id "
                "WHERE c.level = 1 AND c.status = 'settled' AND c.settled_at >= %s AND c.settled_at < %s "
                "AND d.path <@ %s::ltree AND nlevel(d.path) - nlevel(%s::ltree) < %s",
                [start, end, leader.path, leader.path, levels],
            )
            row = cursor.fetchone()
        sales = int(row[0]) if row else 0
        amount = sales * leader.grade.dividend_bp // BP
        if amount <= 0:
            continue
        with transaction.atomic():
            keys = [
                (leader.pk, Account.AVAILABLE),
                (leader.pk, Account.CLAWBACK_DEBT),
                (None, Account.COMMISSION_EXPENSE),
            ]
            accounts = ledger.lock_accounts(keys)
            repay = min(amount, -accounts[(leader.pk, Account.CLAWBACK_DEBT)].balance)  # debt first
            written = ledger.post(
                [
                    Posting(
                        "dividend",
                        f"dividend:{leader.pk}:{label}",
                        f"dividend:{label}:{sales}",
                        [
                            ((None, Account.COMMISSION_EXPENSE), -amount),
                            ((leader.pk, Account.CLAWBACK_DEBT), repay),
                            ((leader.pk, Account.AVAILABLE), amount - repay),
                        ],
                    )
                ],
                accounts,
            )
        if written:
            paid[leader.pk] = amount
    return paid
