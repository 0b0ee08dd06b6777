"""Background work in the embedded mode (no broker: Celery tasks run eagerly, in-process).

With a broker (``REDIS_URL``), Celery workers run tasks and beat the periodic ones. Without
one (the demo), a task published with ``platform_core.tasks.publish_in_background`` must
still never run inside the request that asked for it: the web process (``platform_core.wsgi``,
so ``runserver`` and gunicorn alike) starts one daemon thread, this module's worker, which
runs such tasks after the response, one at a time, each in the schema it was published
from, plus the beat entries named in ``settings.EMBEDDED_BEAT`` on their schedule. It runs
them when the process has served no request for a moment (``quiet`` seconds; at the latest
``max_wait`` seconds after they were due), so that, on the demo's two cores, a refill's DDL
does not slow down the new merchant's next requests (hand-off, console). A failing task is
logged and never reaches the request that published it.

Only a process that starts the worker has one: tests and management commands do not, and
there a background task is not run at all (tests fill the pool explicitly)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Task

log = logging.getLogger(__name__)


@dataclass
class _Job:
    task: Task
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    schema: str
    not_before: float  # time.monotonic()


@dataclass
class _Periodic:
    name: str
    every: float
    due: float


class BackgroundWorker:
    """One daemon thread running background tasks and periodic entries, one at a time.

    The same task with the same arguments in the same schema is queued once: a second
    request while the first is still waiting is absorbed by it (a refill fills what is
    missing whenever it runs)."""

    def __init__(
        self,
        periodic: Sequence[tuple[str, float]] = (),
        first_periodic_after: float = 5.0,
        quiet: float = 0.0,
        max_wait: float = 30.0,
    ) -> None:
        now = time.monotonic()
        self.quiet = quiet
        self.max_wait = max_wait
        self._requests = 0  # requests in flight in this process
        self._last_request = 0.0  # when the last one finished (time.monotonic())
        self._periodic = [_Periodic(name, every, now + first_periodic_after) for name, every in periodic]
        self._pending: dict[tuple[str, str, str], _Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._pid = 0

    # --- requests of this process (django's request_started / request_finished) ---
    def request_started(self, **kwargs: Any) -> None:
        with self._lock:
            self._requests += 1

    def request_finished(self, **kwargs: Any) -> None:
        with self._lock:
            self._requests = max(0, self._requests - 1)
            self._last_request = time.monotonic()
        if self._pending:
            self._wake.set()

    def watch_requests(self) -> None:
        from django.core.signals import request_finished, request_started

        request_started.connect(self.request_started, dispatch_uid=f"background-{id(self)}-started", weak=False)
        request_finished.connect(self.request_finished, dispatch_uid=f"background-{id(self)}-finished", weak=False)

    def _quiet_for(self, now: float) -> float:
        """Seconds until the process has been without requests for ``quiet`` (0: now)."""
        if self.quiet <= 0:
            return 0.0
        if self._requests:
            return self.quiet
        return max(0.0, self._last_request + self.quiet - now)

    # --- the publishing side (request threads) ---
    def submit(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], schema: str, delay: float = 0) -> None:
        key = (task.name, schema, repr((args, sorted(kwargs.items()))))
        with self._lock:
            job = self._pending.get(key)
            not_before = time.monotonic() + delay
            if job is None:
                self._pending[key] = _Job(task, args, kwargs, schema, not_before)
            self._idle.clear()
        self.ensure_running()
        self._wake.set()

    def ensure_running(self) -> None:
        """Start the thread (again, in a process forked after it started: threads do not
        survive a fork)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="fenxiao-background", daemon=True)
            self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running (tests)."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # --- the worker thread ---
    def _run(self) -> None:
        while not self._stopping.is_set():
            job = self._next_job()
            if job is None:
                self._wake.wait(self._sleep_for())
                self._wake.clear()
                continue
            self._execute(job)

    def _next_job(self) -> _Job | None:
        now = time.monotonic()
        with self._lock:
            for entry in self._periodic:
                if entry.due <= now:
                    entry.due = now + entry.every
                    task = _task_named(entry.name)
                    if task is not None:
                        self._pending.setdefault((task.name, "public", "periodic"), _Job(task, (), {}, "public", now))
                        self._idle.clear()
            wait = self._quiet_for(now)
            for key, job in sorted(self._pending.items(), key=lambda item: item[1].not_before):
                if job.not_before <= now and (wait <= 0 or now - job.not_before >= self.max_wait):
                    del self._pending[key]
                    return job
            if not self._pending:
                self._idle.set()
        return None

    def _sleep_for(self) -> float:
        now = time.monotonic()
        with self._lock:
            times = [max(job.not_before, now + self._quiet_for(now)) for job in self._pending.values()]
            times += [p.due for p in self._periodic]
        return max(0.01, min(times) - now) if times else 3600.0

    def _execute(self, job: _Job) -> None:
        from django.db import connections

        started = time.perf_counter()
        try:
            job.task.apply(args=job.args, kwargs=job.kwargs, headers={"_schema_name": job.schema}, throw=True)
            log.info("background task %s done in %.0f ms", job.task.name, (time.perf_counter() - started) * 1000)
        except Exception:  # noqa: BLE001 - a failing task is logged; it never reaches a request
            log.exception("background task %s failed", job.task.name)
        finally:
            connections.close_all()  # this thread's connections only


def _task_named(name: str) -> Task | None:
    from platform_core.celery import app

    app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery), once
    task = app.tasks.get(name)
    if task is None:
        log.error("embedded beat: no task named %s", name)
    return task


_worker: BackgroundWorker | None = None


def worker() -> BackgroundWorker | None:
    """This process's background worker, if it has one."""
    return _worker


def start_embedded_worker() -> BackgroundWorker | None:
    """Called by the WSGI module: without a broker, start the worker (once per process)."""
    global _worker
    from django.conf import settings

    from platform_core.celery import app

    if not app.conf.task_always_eager:
        return None  # Celery workers and beat do this work
    if _worker is None:
        schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
        periodic = [(str(schedule[key]["task"]), float(schedule[key]["schedule"])) for key in settings.EMBEDDED_BEAT]
        _worker = BackgroundWorker(periodic, quiet=0.5)
        _worker.watch_requests()
    _worker.ensure_running()
    return _worker


def use_worker(instance: BackgroundWorker | None) -> BackgroundWorker | None:
    """Install ``instance`` as this process's worker (tests); returns the previous one."""
    global _worker
    previous, _worker = _worker, instance
    return previous
