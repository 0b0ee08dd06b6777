"""Receivers of the commerce core's events (sent after commit, in the shop's schema)."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import get_public_schema_name

from platform_core import stripe_gateway as gateway
from platform_core.tenancy import current_schema
from shop.payments import records


def order_settled(sender: Any, order: Any, **kwargs: Any) -> None:
    """An order was cancelled, or paid (another way): stop its open PaymentIntent from
    being paid (in a task). One paid meanwhile is refunded when its success arrives."""
    if not gateway.stripe_enabled() or current_schema() == get_public_schema_name():
        return
    from shop.payments.models import Payment
    from shop.payments.tasks import cancel_open_intents

    if Payment.objects.filter(order_id=order.pk, provider=Payment.Provider.STRIPE, status__in=records.OPEN).exists():
        records.publish(cancel_open_intents, order.pk, order.number)
