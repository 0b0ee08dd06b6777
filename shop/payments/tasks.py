"""Thin task wrappers around the payment services; each runs in the schema of the shop
that published it (tenant-schemas-celery) and is idempotent."""

from __future__ import annotations

from celery import shared_task
from django_tenants.utils import get_tenant_model, schema_context

from platform_core import stripe_gateway as gateway
from shop.payments import services


@shared_task(name="payments.process_event", **gateway.RETRYING_TASK)
def process_payment_event(event_id: str) -> str:
    return services.process_event(event_id)


@shared_task(name="payments.send_refund", **gateway.RETRYING_TASK)
def send_refund(refund_pk: int) -> str:
    return services.send_refund(refund_pk)


@shared_task(
    name="payments.cancel_open_intents",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(gateway.StripeError,),
    retry_backoff=True,
    max_retries=5,
)
def cancel_open_intents(order_id: int, order_number: str) -> str:
    return services.cancel_open_intents(order_id, order_number)


@shared_task(name="payments.retry_stale", acks_late=True, ignore_result=True)
def retry_stale() -> dict[str, int]:
    return services.retry_stale()


@shared_task(name="payments.retry_all_shops", acks_late=True, ignore_result=True)
def retry_all_shops() -> int:
    shops = get_tenant_model().objects.exclude(schema_name="public").values_list("schema_name", flat=True)
    count = 0
    for schema in shops:
        with schema_context(schema):  # the task carries this schema in its headers
            retry_stale.delay()
        count += 1
    return count
