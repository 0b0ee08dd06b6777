"""Payments' subscriptions to the commerce core's events."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import get_public_schema_name

from platform_core import outbox
from platform_core import stripe_gateway as gateway
from platform_core.tenancy import current_schema
from shop.payments import records


def order_settled(order: Any, **kwargs: Any) -> None:
    """An order was cancelled, or paid (another way): its open PaymentIntent must stop
    being payable. Recorded in the transaction that settled the order (a durable handler:
    the outbox publishes the task once it commits, and keeps it through a broker outage);
    one paid meanwhile is refunded when its success arrives."""
    if not gateway.stripe_enabled() or current_schema() == get_public_schema_name():
        return
    from shop.payments.models import Payment

    if Payment.objects.filter(order_id=order.pk, provider=Payment.Provider.STRIPE, status__in=records.OPEN).exists():
        outbox.enqueue("payments.cancel_open_intents", order.pk, order.number)
