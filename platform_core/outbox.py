"""The transactional outbox: the platform's one way to say "this work must happen once
this transaction commits".

    from platform_core import outbox

    with transaction.atomic():
        ...  # the effect
        outbox.enqueue("payments.cancel_open_intents", order.pk, order.number)

``enqueue`` writes a row (task name, JSON arguments, the shop's schema) in the same
transaction as the effect, so the work exists exactly when the effect does. Once the
transaction commits, the row is published to Celery at once (in the shop's schema, through
tenant-schemas-celery's header) and deleted. A row whose publishing failed (the broker is
down or frozen) stays, and the relay (``relay``, run by beat every ``OUTBOX_RELAY_SECONDS``)
publishes it later, with backoff, until the broker takes it: a broker outage delays work,
never loses it. A row may be published twice (a crash between the broker taking it and the
row's deletion), so every task run through the outbox must be idempotent.

Where the rows live: one table in the public schema (``OutboxMessage``, keyed by schema).
The relay reads one small indexed table (rows are deleted once delivered), whatever the
number of shops, and a shop's transaction writes its row with one INSERT on the same
server. DESIGN.md ("Beyond one database server") records the trade-off with per-shop tables
under Citus schema-based sharding.

Without a broker (the embedded demo, tests: ``task_always_eager``) publishing runs the task
in-process after the commit, in the row's schema; a failing task is logged, never raised
into the code that committed.

Nothing here knows a domain: tasks are named by string.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from celery import Task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from platform_core.models import OutboxMessage
from platform_core.tenancy import current_schema

log = logging.getLogger(__name__)

# A row is left to the immediate publisher for this long before the relay may take it.
GRACE = timedelta(seconds=5)
RELAY_BATCH = 500
MAX_BACKOFF_SECONDS = 300

_lock = threading.Lock()
_broker_down_until = 0.0  # per process: after a failed publish, leave rows to the relay for a while


def enqueue(task: str | Task, *args: Any, **kwargs: Any) -> int:
    """Record ``task(*args, **kwargs)`` to run once the current transaction commits (at once
    when there is none). Arguments must be JSON (ids, strings, numbers). Returns the row's id."""
    name = task if isinstance(task, str) else str(task.name)
    try:
        json.dumps([args, kwargs])
    except TypeError as exc:
        raise TypeError(f"outbox arguments of {name} must be JSON: {exc}") from exc
    now = timezone.now()
    row = OutboxMessage.objects.create(
        schema_name=current_schema(),
        task=name,
        args=list(args),
        kwargs=dict(kwargs),
        created_at=now,
        available_at=now + GRACE,
    )
    pending: list[int] | None = getattr(connection, "_outbox_pending", None)
    if pending is None:
        pending = []
        connection._outbox_pending = pending  # type: ignore[attr-defined]
    pending.append(row.pk)
    # one flush per transaction is enough (the first one publishes every row recorded so
    # far); ids of rolled-back rows match nothing and are ignored
    transaction.on_commit(_flush, robust=True)
    return row.pk


def _flush() -> None:
    ids: list[int] = getattr(connection, "_outbox_pending", None) or []
    connection._outbox_pending = []  # type: ignore[attr-defined]
    if ids:
        try:
            deliver(ids)
        except Exception:  # noqa: BLE001 - a committed write never fails because of publishing
            log.exception("outbox: publishing %s rows after commit failed; the relay will", len(ids))


def _eager() -> bool:
    from platform_core.celery import app

    return bool(app.conf.task_always_eager)


def broker_breaker_open() -> bool:
    return time.monotonic() < _broker_down_until


def _broker_failed(exc: BaseException) -> None:
    global _broker_down_until
    with _lock:
        was_open = broker_breaker_open()
        _broker_down_until = time.monotonic() + settings.BROKER_BREAKER_SECONDS
    if not was_open:
        log.warning(
            "outbox: the broker refused a message (%s: %s); work waits in the outbox for the relay",
            exc.__class__.__name__,
            exc,
        )


def deliver(ids: list[int]) -> int:
    """Publish these rows now (after their commit). Returns how many were delivered."""
    if _eager():
        return sum(_run_claimed(pk) for pk in ids)
    if broker_breaker_open():
        return 0  # the broker failed a moment ago: don't make this request wait on it again
    delivered, _ok = _publish(OutboxMessage.objects.filter(pk__in=ids), len(ids))
    return delivered


def relay(limit: int = RELAY_BATCH, budget_seconds: float = 20.0) -> int:
    """Publish the rows that are due (their first publishing failed, or never happened),
    batch after batch within ``budget_seconds``. Several relays may run at once (rows are
    taken with SKIP LOCKED). Returns how many were delivered."""
    started = time.monotonic()
    total = 0
    while time.monotonic() - started < budget_seconds:
        due = OutboxMessage.objects.filter(available_at__lte=timezone.now())
        if _eager():
            ids = list(due.order_by("available_at", "id").values_list("pk", flat=True)[:limit])
            count = sum(_run_claimed(pk) for pk in ids)
            if len(ids) < limit:
                return total + count
        else:
            count, ok = _publish(due, limit)
            if not ok or count < limit:
                return total + count
        total += count
    return total


def _connection() -> Any:
    """A broker connection that fails fast: one attempt, short socket timeouts (the worker's
    own connections keep Celery's reconnecting defaults)."""
    from platform_core.celery import app

    options = {
        **(app.conf.broker_transport_options or {}),
        "max_retries": 0,
        "socket_timeout": settings.OUTBOX_PUBLISH_TIMEOUT,
        "socket_connect_timeout": settings.OUTBOX_PUBLISH_TIMEOUT,
    }
    return app.connection_for_write(transport_options=options, connect_timeout=settings.OUTBOX_PUBLISH_TIMEOUT)


def _publish(rows: Any, limit: int) -> tuple[int, bool]:
    """Send up to ``limit`` rows to the broker, each locked while it is sent (another relay
    skips it); delete what the broker took, push back what it refused. Returns (delivered,
    whether the broker took everything tried)."""
    with transaction.atomic():
        batch = list(rows.select_for_update(skip_locked=True).order_by("available_at", "id")[:limit])
        sent: list[int] = []
        failure: tuple[OutboxMessage, BaseException] | None = None
        if batch:
            with _connection() as broker:
                for row in batch:
                    try:
                        _send(row, broker)
                    except Exception as exc:  # noqa: BLE001 - the broker is down, frozen or refused it
                        failure = (row, exc)
                        break
                    sent.append(row.pk)
        if sent:
            OutboxMessage.objects.filter(pk__in=sent).delete()
        if failure is not None:
            refused, error = failure
            attempts = refused.attempts + 1
            OutboxMessage.objects.filter(pk=refused.pk).update(
                attempts=attempts,
                available_at=timezone.now() + timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS)),
                last_error=f"{error.__class__.__name__}: {error}"[:255],
            )
    if failure is not None:
        _broker_failed(failure[1])
    return len(sent), failure is None


_tasks_loaded = False


def _task(name: str) -> Any:
    """The registered task ``name`` (the apps' ``tasks`` modules are imported on first use:
    a web process has not imported them), or None."""
    global _tasks_loaded
    from platform_core.celery import app

    if name not in app.tasks and not _tasks_loaded:
        app.loader.import_default_modules()  # Celery's autodiscovery of every app's tasks
        _tasks_loaded = True
    return app.tasks.get(name)


def _send(row: OutboxMessage, broker: Any) -> None:
    from platform_core.celery import app

    options: dict[str, Any] = {"headers": {"_schema_name": row.schema_name}, "retry": False, "connection": broker}
    task = _task(row.task)
    if task is not None:
        task.apply_async(args=tuple(row.args), kwargs=row.kwargs, **options)
    else:  # a task this process does not import: the workers know it by name
        app.send_task(row.task, args=tuple(row.args), kwargs=row.kwargs, **options)


def _run_claimed(pk: int) -> int:
    """No broker (eager Celery): take the row (deleting it) and run its task here, in its
    shop's schema, outside any transaction of ours. Returns 1 if this call ran it."""
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
        if row is None:
            return 0  # another flush or relay has it
        row.delete()
    with schema_context(row.schema_name):
        try:
            task = _task(row.task)
            if task is None:
                raise LookupError(f"no task named {row.task}")
            task.apply_async(args=row.args, kwargs=row.kwargs, headers={"_schema_name": row.schema_name})
        except Exception:  # noqa: BLE001 - like a worker: the task's failure is logged, not raised here
            log.exception("outbox: task %s%s failed", row.task, tuple(row.args))
    return 1


def backlog(older_than: timedelta = timedelta(minutes=1), cap: int = 10_000) -> int:
    """Rows waiting longer than ``older_than`` (for health checks and operators)."""
    cutoff = timezone.now() - older_than
    return len(OutboxMessage.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:cap])
