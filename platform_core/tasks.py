"""Helpers for publishing tasks. A task is published only once the transaction that asked
for it has committed, so a worker never sees a shop, an order or a row that was rolled back,
and it runs in the schema of the shop that published it."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import transaction

from platform_core.tenancy import current_schema

log = logging.getLogger(__name__)


def publish_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs))


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

    transaction.on_commit(publish)
