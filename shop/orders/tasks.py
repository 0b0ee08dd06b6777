"""Order timers, driven by beat scanning the database (no long countdowns): every minute
a platform task publishes one task per shop, which runs in that shop's schema."""

from __future__ import annotations

import logging

from celery import shared_task
from django_tenants.utils import get_tenant_model, schema_context

from shop.orders import services

log = logging.getLogger(__name__)


@shared_task(name="orders.run_timers", acks_late=True, ignore_result=True)
def run_timers() -> dict[str, int]:
    return services.run_timers()


@shared_task(name="orders.run_timers_all_shops", acks_late=True, ignore_result=True)
def run_timers_all_shops() -> int:
    shops = get_tenant_model().objects.exclude(schema_name="public").values_list("schema_name", flat=True)
    count = 0
    for schema in shops:
        try:
            with schema_context(schema):  # the task carries this schema in its headers
                run_timers.delay()
            count += 1
        except Exception:  # noqa: BLE001 - (eager mode runs it here) one shop never stops the others
            log.exception("order timers of %s failed", schema)
    return count
