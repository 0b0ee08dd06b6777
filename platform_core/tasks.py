"""Publishing tasks, and the outbox relay.

Work that must happen after a transaction commits goes through the transactional outbox
(``platform_core.outbox.enqueue``): a row in the same transaction, published after the
commit, relayed until the broker takes it. Tasks run in the schema of the shop that
published them."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app, shared_task
from django.db import transaction

from platform_core import outbox
from platform_core.tenancy import current_schema

log = logging.getLogger(__name__)


def publish_on_commit(task: Task | str, *args: Any, **kwargs: Any) -> None:
    """``outbox.enqueue``: ``task`` runs once the current transaction commits, in the
    current shop's schema, and is never lost to a broker outage."""
    outbox.enqueue(task, *args, **kwargs)


def publish_in_background(task: Task, *args: Any, countdown: float = 0, **kwargs: Any) -> None:
    """Publish ``task`` after commit for work that must never run inside the request that
    asks for it, nor fail it (e.g. topping up the schema pool after a signup).

    With a broker it goes to Celery (``countdown`` seconds later); without one (tasks run
    eagerly: the demo) to this process's background worker thread
    (``platform_core.background``), never inline. A process without that worker (tests,
    management commands) skips it: the periodic schedule does the work. Any failure to
    publish is logged, never raised into the caller."""
    schema = current_schema()

    def publish() -> None:
        try:
            if task.app.conf.task_always_eager:
                from platform_core.background import worker

                background = worker()
                if background is None:
                    log.debug("no background worker in this process: %s left to its schedule", task.name)
                    return
                background.submit(task, args, kwargs, schema=schema, delay=countdown)
            else:
                if countdown:
                    task.apply_async(args=args, kwargs=kwargs, countdown=countdown)
                else:
                    task.apply_async(args=args, kwargs=kwargs)
        except Exception:  # noqa: BLE001 - the caller's work is done and committed: never fail it
            log.exception("could not publish %s; it runs on its next schedule", task.name)

    transaction.on_commit(publish, robust=True)


@shared_task(name="platform_core.outbox_relay", acks_late=False, ignore_result=True)
def outbox_relay() -> int:
    """Publish outbox rows whose first publishing failed (beat, every OUTBOX_RELAY_SECONDS).
    Runs only while the broker delivers it, i.e. once the broker is back."""
    return outbox.relay()


def fan_out(task_name: str) -> int:
    """Publish the task ``task_name`` once per shop (active or suspended), each carrying the
    shop's schema: one small task per shop, so one shop's failure or slowness never holds
    up another. Returns how many were published."""
    from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

    if task_name not in current_app.tasks:  # (a process that has not imported the apps' tasks yet)
        current_app.autodiscover_tasks(force=True)
    task = current_app.tasks[task_name]
    schemas = (
        get_tenant_model()
        .objects.exclude(schema_name=get_public_schema_name())
        .filter(status__in=["active", "suspended"])
        .order_by("id")
        .values_list("schema_name", flat=True)
    )
    count = 0
    for schema in schemas.iterator():
        try:
            with schema_context(schema):
                task.apply_async(headers={"_schema_name": schema})
            count += 1
        except Exception:  # noqa: BLE001 - (eager mode runs it here) one shop never stops the others
            log.exception("%s in %s failed", task_name, schema)
    return count


@shared_task(name="platform_core.every_shop", acks_late=True, ignore_result=True)
def every_shop(task_name: str) -> int:
    """Beat's per-shop fan-out: ``{"task": "platform_core.every_shop", "args": [name]}``."""
    return fan_out(task_name)
