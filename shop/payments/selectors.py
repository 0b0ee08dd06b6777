"""Reads of payments."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from shop.payments.models import Payment


def order_payments(order: Any) -> QuerySet[Payment]:
    return Payment.objects.filter(order=order).prefetch_related("refunds").order_by("created_at", "id")


def refundable_payments(order: Any) -> list[Payment]:
    return [p for p in order_payments(order) if p.refundable > 0]


def refunded_back(order_line_ids: Any) -> dict[int, int]:
    """Per order line: what refunds gave back of it, money actually back (succeeded
    refunds; pending ones are on their way, failed ones gave nothing)."""
    from django.db.models import Sum

    from shop.payments.models import Refund, RefundLine

    rows = (
        RefundLine.objects.filter(
            order_line_id__in=list(order_line_ids), kind=RefundLine.Kind.GOODS, refund__status=Refund.Status.SUCCEEDED
        )
        .values("order_line_id")
        .annotate(total=Sum("amount"))
        .values_list("order_line_id", "total")
    )
    return {int(line): int(total) for line, total in rows}


def refund_goods_lines(refund: Any) -> list[int]:
    """The order lines a refund gave money back for (none for shipping or a duplicate)."""
    from shop.payments.models import RefundLine

    return sorted(
        {
            int(pk)
            for pk in RefundLine.objects.filter(refund=refund, kind=RefundLine.Kind.GOODS).values_list(
                "order_line_id", flat=True
            )
        }
    )
