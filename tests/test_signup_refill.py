"""The warm pool is topped up after a signup, never inside it: by the web process's
background thread without a broker (the demo), by Celery with one; and a refill that fails,
or cannot even be published, never touches the signup that asked for it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from platform_core.background import BackgroundWorker, use_worker
from tenants import services, tasks
from tenants.models import PooledSchema, Tenant
from tests.conftest import PASSWORD, platform_client


def api_signup(slug: str) -> Any:
    data = {"name": f"Shop {slug}", "slug": slug, "email": f"owner@{slug}.test", "password": PASSWORD}
    return platform_client().post("/api/v1/signup/", data=json.dumps(data), content_type="application/json")


@pytest.fixture
def background() -> Iterator[BackgroundWorker]:
    """This process's background worker, as platform_core.wsgi starts it without a broker."""
    worker = BackgroundWorker(periodic=())
    previous = use_worker(worker)
    try:
        yield worker
    finally:
        worker.stop()
        use_worker(previous)


@pytest.fixture
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "POOL_REFILL_DELAY", 0)


class Gate:
    """Wraps the refill: records the thread it runs on and holds it until opened."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.opened = threading.Event()
        self.started = threading.Event()
        self.threads: list[str] = []
        self.results: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        self.started.set()
        if not self.opened.wait(20):
            raise AssertionError("the refill was never let through")
        result = self.run(*args, **kwargs)
        self.results.append(result)
        return result


@override_settings(SCHEMA_POOL_SIZE=1)
def test_signup_answers_before_the_refill_which_then_runs_in_the_background(
    live_db: list[str], background: BackgroundWorker, no_delay: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenants.schemas import refill_pool

    gate = Gate(refill_pool)
    monkeypatch.setattr(tasks, "refill_pool", gate)
    live_db.append("bg-refill")
    response = api_signup("bg-refill")  # the refill is held shut: were it inline, this would hang
    assert response.status_code == 201, response.content
    assert Tenant.objects.filter(slug="bg-refill").exists()
    assert gate.started.wait(10), "the refill was not started after the signup"
    assert gate.threads == ["fenxiao-background"]  # the worker's thread, not the request's
    assert not PooledSchema.objects.exists()  # nothing refilled yet while the response went out
    gate.opened.set()
    assert background.wait_idle(30)
    assert gate.results == [{"ready": 1, "created": 1, "upgraded": 0, "failed": 0, "skipped": 0}]
    assert PooledSchema.objects.count() == 1  # topped up to SCHEMA_POOL_SIZE, in the background


def test_a_failing_refill_never_touches_the_signup(
    live_db: list[str],
    background: BackgroundWorker,
    no_delay: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.current_thread().name)
        raise RuntimeError("no space left on device")

    monkeypatch.setattr(tasks, "refill_pool", broken)
    live_db.extend(["broken-refill", "after-broken"])
    with caplog.at_level(logging.ERROR, logger="platform_core.background"):
        first = api_signup("broken-refill")
        assert first.status_code == 201, first.content
        assert background.wait_idle(30)
        assert calls == ["fenxiao-background"]
        # the worker goes on: the next signup's refill runs too
        second = api_signup("after-broken")
        assert second.status_code == 201
        assert background.wait_idle(30)
    assert calls == ["fenxiao-background"] * 2
    assert set(Tenant.objects.filter(slug__in=["broken-refill", "after-broken"]).values_list("slug", flat=True)) == {
        "broken-refill",
        "after-broken",
    }
    assert "background task tenants.refill_schema_pool failed" in caplog.text


def test_refill_requests_while_one_waits_are_absorbed_by_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five signups in a burst ask for five refills: one refill, run once, tops up for all."""
    runs: list[int] = []
    monkeypatch.setattr(tasks, "refill_pool", lambda: runs.append(1))
    worker = BackgroundWorker()
    try:
        for _ in range(5):
            worker.submit(tasks.refill_schema_pool, (), {}, schema="public", delay=1.0)
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert runs == [1]


def test_without_a_background_worker_the_signup_does_not_refill_inline(
    db: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests and management commands have no worker: the refill is left to the schedule."""
    calls: list[str] = []
    monkeypatch.setattr(tasks, "refill_pool", lambda: calls.append("ran"))
    previous = use_worker(None)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert api_signup("no-worker").status_code == 201
    finally:
        use_worker(previous)
    assert callbacks and calls == []


def test_with_a_broker_the_refill_is_a_celery_task_published_after_commit(
    db: Any, django_capture_on_commit_callbacks: Any, redis_url: str
) -> None:
    from kombu import Connection

    from platform_core.celery import app

    app.conf.task_always_eager = False
    try:
        with Connection(redis_url) as conn:
            queue = conn.SimpleQueue("celery")
            queue.clear()
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                assert api_signup("celery-refill").status_code == 201
            assert len(callbacks) == 1  # published only once the signup has committed
            for callback in callbacks:
                callback()
            message = queue.get(timeout=5)
            headers = message.headers
            message.ack()
            queue.close()
    finally:
        app.conf.task_always_eager = True
    assert headers["task"] == "tenants.refill_schema_pool"
    assert headers["eta"]  # a moment later, out of the way of the new merchant's first requests
    assert headers["_schema_name"] == "public"


def test_a_broker_that_is_down_never_fails_the_signup(
    db: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kombu.exceptions import OperationalError

    from platform_core.celery import app

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.refill_schema_pool, "apply_async", down)
    app.conf.task_always_eager = False
    try:
        with caplog.at_level(logging.ERROR, logger="platform_core.tasks"):
            with django_capture_on_commit_callbacks(execute=True):
                response = api_signup("broker-down")
    finally:
        app.conf.task_always_eager = True
    assert response.status_code == 201
    assert Tenant.objects.filter(slug="broker-down").exists()
    assert "could not publish tenants.refill_schema_pool" in caplog.text


def test_the_web_process_starts_the_worker_only_without_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    from platform_core import background
    from platform_core.celery import app

    previous = use_worker(None)
    started: list[BackgroundWorker] = []
    monkeypatch.setattr(BackgroundWorker, "ensure_running", lambda self: started.append(self))
    try:
        app.conf.task_always_eager = False
        assert background.start_embedded_worker() is None
        app.conf.task_always_eager = True
        worker = background.start_embedded_worker()
        assert worker is not None and started == [worker]
        # beat's entries: the pool every 60 s, the outbox relay every OUTBOX_RELAY_SECONDS
        assert [p.name for p in worker._periodic] == ["tenants.refill_schema_pool", "platform_core.outbox_relay"]
        assert [p.every for p in worker._periodic] == [60.0, 10.0]
    finally:
        app.conf.task_always_eager = True
        use_worker(previous)


def test_the_worker_waits_for_the_requests_in_flight_but_not_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the demo's two cores the refill's DDL must not slow the new merchant's next
    requests: it runs once the process has been quiet for a moment, or after max_wait."""
    runs: list[str] = []
    monkeypatch.setattr(tasks, "refill_pool", lambda: runs.append("ran"))
    worker = BackgroundWorker(quiet=0.2, max_wait=30)
    try:
        worker.request_started()  # the merchant's hand-off request is being served
        worker.submit(tasks.refill_schema_pool, (), {}, schema="public")
        assert not worker.wait_idle(1.0)  # five times the quiet period: still waiting
        assert runs == []
        worker.request_finished()
        assert worker.wait_idle(10)
        assert runs == ["ran"]
    finally:
        worker.stop()
    patient = BackgroundWorker(quiet=0.2, max_wait=0.5)
    try:
        patient.request_started()  # a request that never ends (a long download, a stuck client)
        patient.submit(tasks.refill_schema_pool, (), {}, schema="public")
        assert patient.wait_idle(10)
        assert runs == ["ran", "ran"]
    finally:
        patient.stop()
