"""Events of the commerce core, sent once the transaction that caused them commits.

Other domains (distribution, marketing, analytics) subscribe; the core imports none of
them. Receivers run after commit, in the shop's schema; they must be idempotent (a
receiver may see an event again after a retry)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django_tenants.utils import schema_context

from platform_core.tenancy import current_schema

order_created = Signal()  # order
order_paid = Signal()  # order
order_cancelled = Signal()  # order, reason
order_shipped = Signal()  # order
order_completed = Signal()  # order
refund_failed = Signal()  # refund (the provider refused it; the amount is refundable again)
order_refunded = Signal()  # order, refund (money sent back: refund.amount of refund.payment)
aftersale_opened = Signal()  # aftersale
aftersale_closed = Signal()  # aftersale, outcome ("refunded", "rejected", "cancelled")


def publish(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits, in the schema of the shop that
    published it (the commit may happen after the code that published has left it)."""
    schema = current_schema()

    def send() -> None:
        with schema_context(schema):
            signal.send(sender=signal, **kwargs)

    transaction.on_commit(send)
