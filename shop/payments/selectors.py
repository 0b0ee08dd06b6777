"""Reads of payments."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from shop.payments.models import Payment


def order_payments(order: Any) -> QuerySet[Payment]:
    return Payment.objects.filter(order=order).prefetch_related("refunds").order_by("created_at", "id")


def refundable_payments(order: Any) -> list[Payment]:
    return [p for p in order_payments(order) if p.refundable > 0]
