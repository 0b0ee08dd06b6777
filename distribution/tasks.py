"""Settlement, driven by beat scanning the database: a platform task publishes one task
per shop, which runs in that shop's schema (idempotent: rerunning settles nothing twice)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context

from distribution import commission, dividends, grades, settlement
from distribution.receivers import current_tenant

log = logging.getLogger(__name__)
# twice the beat interval (600 s): a run that was late or failed is covered by the next
GRADE_WINDOW = timedelta(minutes=20)


@shared_task(name="distribution.settle_due", acks_late=True, ignore_result=True)
def settle_due() -> int:
    """Catch up on lost events, settle what is due, pay last month's team dividends (each
    idempotent)."""
    tenant = current_tenant()
    commission.commission_catch_up(tenant)  # events lost or failed
    grades.evaluate_recent(tenant, timezone.now() - GRADE_WINDOW)  # uplines of recent earners
    settled = settlement.settle_due()
    dividends.dividends_for_month(tenant)
    return settled


@shared_task(name="distribution.settle_all_shops", acks_late=True, ignore_result=True)
def settle_all_shops() -> int:
    shops = get_tenant_model().objects.exclude(schema_name="public").values_list("schema_name", flat=True)
    count = 0
    for schema in shops:
        try:
            with schema_context(schema):  # the task carries this schema in its headers
                settle_due.delay()
            count += 1
        except Exception:  # noqa: BLE001 - (eager mode runs it here) one shop never stops the others
            log.exception("distribution settlement of %s failed", schema)
    return count
