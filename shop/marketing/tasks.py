"""Marketing timers, driven by beat scanning the database: every minute a platform task
publishes one task per shop that expires its group buys (success with simulated members,
or failure with every paid member refunded)."""

from __future__ import annotations

import logging

from celery import shared_task
from django_tenants.utils import get_tenant_model, schema_context

from shop.marketing import groups

log = logging.getLogger(__name__)


@shared_task(name="marketing.expire_groups", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def expire_groups() -> dict[str, int]:
    return groups.expire_groups()


@shared_task(name="marketing.expire_groups_all_shops", acks_late=True, ignore_result=True)
def expire_groups_all_shops() -> int:
    shops = get_tenant_model().objects.exclude(schema_name="public").values_list("schema_name", flat=True)
    count = 0
    for schema in shops:
        try:
            with schema_context(schema):  # the task carries this schema in its headers
                expire_groups.delay()
            count += 1
        except Exception:  # noqa: BLE001 - (eager mode runs it here) one shop never stops the others
            log.exception("group expiry of %s failed", schema)
    return count
