from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from billing import dunning, webhooks
from billing.models import StripeEvent
from platform_core import stripe_gateway as gateway


@shared_task(name="billing.process_stripe_event", **gateway.RETRYING_TASK)
def process_stripe_event(event_id: str) -> str:
    """Apply one recorded Stripe event (idempotent: a second run finds it processed)."""
    return webhooks.process_event(event_id)


@shared_task(name="billing.run_dunning", acks_late=True, ignore_result=True)
def run_dunning() -> dict[str, int]:
    # Events whose processing was lost (worker died, Stripe unreachable too long) are retried.
    stale = timezone.now() - timedelta(minutes=5)
    for event_id in StripeEvent.objects.filter(processed_at__isnull=True, received_at__lt=stale).values_list(
        "event_id", flat=True
    ):
        process_stripe_event.delay(event_id)
    return dunning.run_dunning()
