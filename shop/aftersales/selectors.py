"""Reads of after-sales."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet, Sum

from platform_core.tenancy import current_schema
from shop.aftersales.models import OPEN, AfterSale, AfterSaleLine, AfterSaleReason
from shop.orders.models import Order

# The shop's own data (it renames them at will), seeded in the platform's default language.
DEFAULT_REASONS = ["不想要了", "质量问题", "发错货", "少件漏发", "其他"]


def reasons(*, active_only: bool = False) -> QuerySet[AfterSaleReason]:
    """The shop's reasons; the defaults are made on first use (an empty list)."""
    if not AfterSaleReason.objects.exists():
        with transaction.atomic():
            with connection.cursor() as cursor:  # (an empty table has no row to lock)
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{current_schema()}:aftersale-reasons"])
            if not AfterSaleReason.objects.exists():
                AfterSaleReason.objects.bulk_create(
                    AfterSaleReason(name=name, position=i * 10) for i, name in enumerate(DEFAULT_REASONS, 1)
                )
    found = AfterSaleReason.objects.all()
    return found.filter(is_active=True) if active_only else found


def for_member(member: Any) -> QuerySet[AfterSale]:
    return AfterSale.objects.filter(member=member).select_related("order", "reason").prefetch_related("lines")


def detailed() -> QuerySet[AfterSale]:
    return AfterSale.objects.select_related("order", "member", "reason").prefetch_related(
        "lines__order_line", "log", "refunds__payment"
    )


def claimed_by_line(order: Order, exclude: str | None = None) -> dict[int | None, tuple[int, int]]:
    """Per order line: (units, amount) held by open after-sales, whose money has not gone
    back yet (a refunded after-sale's units are in the line's refunded figures); under
    ``None``, the shipping they hold. ``exclude``: "aftersale:<id>", one not to count (the
    one being refunded). A claim source of ``shop.payments.allocation``."""
    opened = AfterSale.objects.filter(order=order, status__in=OPEN)
    if exclude and exclude.startswith("aftersale:"):
        opened = opened.exclude(pk=int(exclude.split(":", 1)[1]))
    rows = (
        AfterSaleLine.objects.filter(aftersale__in=opened)
        .values("order_line_id")
        .annotate(units=Sum("quantity"), amount=Sum("amount"))
    )
    held: dict[int | None, tuple[int, int]] = {row["order_line_id"]: (row["units"], row["amount"]) for row in rows}
    shipping = opened.aggregate(total=Sum("shipping_refund"))["total"] or 0
    if shipping:
        held[None] = (0, int(shipping))
    return held


def without_open_aftersales(orders: QuerySet[Order]) -> QuerySet[Order]:
    """The orders of ``orders`` that have no open after-sale (the completion timer's hold)."""
    return orders.exclude(pk__in=AfterSale.objects.filter(status__in=OPEN).values("order_id"))


def fulfilment_blocked(order: Order) -> str | None:
    """An order with an open request for money back is not shipped (or handed over) until
    the merchant has answered it: the units it names may be refunded and back in stock."""
    from django.utils.translation import gettext as _

    if AfterSale.objects.filter(order=order, status__in=OPEN).exists():
        return _("The buyer asked for a refund on this order: review the after-sales request before shipping.")
    return None
