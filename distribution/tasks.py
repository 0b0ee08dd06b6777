"""Settlement, driven by beat scanning the database: a platform task publishes one task
per shop, which runs in that shop's schema (idempotent: rerunning settles nothing twice)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context

from distribution import commission, dividends, grades, settlement, verify
from distribution.receivers import current_tenant
from platform_core import outbox

log = logging.getLogger(__name__)
# twice the beat interval (600 s): a run that was late or failed is covered by the next
GRADE_WINDOW = timedelta(minutes=20)


def settle_seconds_per_task() -> float:
    """Half the soft time limit, at most 20 s: a task ends long before its message could be
    delivered again (the broker's visibility timeout)."""
    soft = float(getattr(settings, "CELERY_TASK_SOFT_TIME_LIMIT", None) or 40)
    return max(1.0, min(20.0, soft / 2))


@shared_task(name="distribution.order_paid", acks_late=True, ignore_result=True)
def order_paid(order_id: int) -> str:
    """The commission (and binding, grades, qualification) of a paid order; published by the
    outbox in the payment's transaction. Idempotent."""
    from distribution.receivers import on_order_paid
    from shop.orders.models import Order

    order = Order.objects.select_related("member").filter(pk=order_id).first()
    if order is None:
        return "no such order"
    on_order_paid(None, order=order)
    return "done"


@shared_task(name="distribution.settle_due", acks_late=True, ignore_result=True)
def settle_due() -> int:
    """Catch up on lost events, settle what is due, pay last month's team dividends (each
    idempotent)."""
    tenant = current_tenant()
    commission.commission_catch_up(tenant)  # events lost or failed
    grades.evaluate_recent(tenant, timezone.now() - GRADE_WINDOW)  # uplines of recent earners
    # in chunks that end well before the broker's visibility timeout: a long settlement
    # goes on in a new task (through the outbox), never runs past the point where a dead
    # worker's task is redelivered
    deadline = time.monotonic() + settle_seconds_per_task()
    settled = settlement.settle_due(deadline=deadline)
    if time.monotonic() > deadline and settlement.due_lines(timezone.now()).exists():
        outbox.enqueue("distribution.settle_due")
        return settled
    dividends.dividends_for_month(tenant)
    return settled


@shared_task(name="distribution.verify_shop", acks_late=True, ignore_result=True)
def verify_shop() -> int:
    """Reconcile this shop's money (``distribution.verify``) and keep the findings where the
    merchant's console and the operator console show them. Run every night in every shop
    (``platform_core.every_shop``). Returns the number of findings."""
    return verify.verify_and_record()


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
