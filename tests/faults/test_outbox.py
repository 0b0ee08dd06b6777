"""The transactional outbox in-process, against a throwaway redis-server as the broker
(stopped for real), and the after-commit steps that ride on it: a broker outage delays
work and never loses it, never fails a committed write, and one failing receiver never
skips another."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery import shared_task
from django.db import transaction

from platform_core import outbox
from platform_core.logging import ShopContextFilter
from platform_core.models import OutboxMessage
from platform_core.tenancy import current_schema
from shop import events
from tests.conftest import in_shop, owner_client
from tests.faults.conftest import RedisServer

pytestmark = pytest.mark.django_db

ran: list[tuple[str, Any]] = []


@shared_task(name="tests.faults.record")
def record(value: Any) -> None:
    ran.append((current_schema(), value))


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    ran.clear()
    outbox._broker_down_until = 0.0
    yield
    outbox._broker_down_until = 0.0


@pytest.fixture
def broker(redis_server: RedisServer) -> Iterator[RedisServer]:
    """Celery publishing for real, to the throwaway redis-server (no eager mode)."""
    from platform_core.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url = redis_server.url
    app.conf.task_always_eager = False
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield redis_server
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        app.conf.broker_url, app.conf.task_always_eager = saved
        app._pool = None
        app.amqp._producer_pool = None


def queued(server: RedisServer) -> list[dict[str, Any]]:
    raw = server.command("LRANGE", "celery", "0", "-1").decode()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def test_work_is_recorded_with_the_effect_and_rolled_back_with_it(
    alpha: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_shop(alpha):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            outbox.enqueue("tests.faults.record", "kept")
            with transaction.atomic():
                sid = transaction.savepoint()
                outbox.enqueue("tests.faults.record", "rolled back")
                transaction.savepoint_rollback(sid)
            assert ran == []  # nothing before the commit
    # no broker (eager): published by running it here, in the shop's schema, once
    assert ran == [("shop_alpha", "kept")]
    assert not OutboxMessage.objects.exists()  # delivered rows are deleted


def test_arguments_must_be_json(alpha: Any) -> None:
    with in_shop(alpha), pytest.raises(TypeError, match="JSON"):
        outbox.enqueue("tests.faults.record", object())


def test_a_broker_outage_delays_work_and_never_loses_it(
    alpha: Any, broker: RedisServer, django_capture_on_commit_callbacks: Any
) -> None:
    broker.stop()
    with in_shop(alpha), django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue("tests.faults.record", 1)  # the commit goes through; publishing fails
    row = OutboxMessage.objects.get()
    assert (row.schema_name, row.task, row.args, row.attempts) == ("shop_alpha", "tests.faults.record", [1], 1)
    assert row.last_error
    assert outbox.broker_breaker_open()
    # while the breaker is open, new work is not even tried in the request path
    with in_shop(alpha), django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue("tests.faults.record", 2)
    assert OutboxMessage.objects.filter(attempts=0).count() == 1
    OutboxMessage.objects.update(available_at=row.created_at)  # due now
    assert outbox.relay() == 0  # still down: kept, with backoff
    assert OutboxMessage.objects.count() == 2
    broker.start()
    OutboxMessage.objects.update(available_at=row.created_at)
    assert outbox.relay() == 2
    assert not OutboxMessage.objects.exists()
    messages = queued(broker)
    assert sorted(m["headers"]["argsrepr"] for m in messages) == ["(1,)", "(2,)"]
    assert {m["headers"]["_schema_name"] for m in messages} == {"shop_alpha"}
    assert {m["headers"]["task"] for m in messages} == {"tests.faults.record"}


def test_publishing_after_commit_goes_to_the_broker_at_once(
    alpha: Any, broker: RedisServer, django_capture_on_commit_callbacks: Any
) -> None:
    with in_shop(alpha), django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue("tests.faults.record", "now")
    assert not OutboxMessage.objects.exists()
    [message] = queued(broker)
    assert message["headers"]["_schema_name"] == "shop_alpha" and message["headers"]["argsrepr"] == "('now',)"


def test_a_dead_broker_never_turns_a_committed_payment_into_an_error(
    alpha: Any, broker: RedisServer, django_capture_on_commit_callbacks: Any
) -> None:
    """The fault run's 500: marking an order paid with the broker down. Now 200, the order
    paid, and its commission task waiting in the outbox."""
    from shop.orders.models import Order
    from tests.orders.conftest import member
    from tests.payments.conftest import unpaid_order

    order = unpaid_order(alpha, member(alpha))
    broker.stop()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client(alpha).post(
            f"/api/v1/console/orders/{order.pk}/mark-paid/",
            data=json.dumps({"amount": order.payable}),
            content_type="application/json",
        )
    assert response.status_code == 200, response.content
    with in_shop(alpha):
        assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    waiting = OutboxMessage.objects.get(task="distribution.order_paid")
    assert waiting.args == [order.pk] and waiting.schema_name == "shop_alpha"


def test_one_failing_receiver_never_skips_another(
    alpha: Any, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(sender: Any, order: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver down")

    def works(sender: Any, order: Any, **kwargs: Any) -> None:
        seen.append(current_schema())

    events.order_shipped.connect(broken, dispatch_uid="faults-broken", weak=False)
    events.order_shipped.connect(works, dispatch_uid="faults-works", weak=False)
    caplog.handler.addFilter(ShopContextFilter())
    try:
        with caplog.at_level(logging.ERROR, logger="shop.events"):
            with in_shop(alpha), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                events.publish(events.order_shipped, order=object())
    finally:
        events.order_shipped.disconnect(dispatch_uid="faults-broken")
        events.order_shipped.disconnect(dispatch_uid="faults-works")
    assert seen == ["shop_alpha"]
    [logged] = [r for r in caplog.records if r.name == "shop.events"]
    assert "order_shipped" in logged.getMessage() and "broken" in logged.getMessage()
    assert logged.shop == "shop_alpha" and logged.exc_info is not None  # type: ignore[attr-defined]


def test_every_after_commit_step_is_isolated(alpha: Any) -> None:
    """Django runs the on-commit hooks in order and, unless a hook is ``robust``, the first
    that raises skips the rest (the fault run's lost commission). Every hook the outbox, the
    events and the cache invalidations register is robust."""
    from django.db import connection

    from shop.catalogue.selectors import bump_catalogue_version
    from shop.storefront.theming import forget_published_row

    with in_shop(alpha), transaction.atomic():
        before = len(connection.run_on_commit)
        outbox.enqueue("tests.faults.record", "x")
        events.publish(events.order_shipped, order=object())
        bump_catalogue_version()
        forget_published_row()
        hooks: list[Any] = list(connection.run_on_commit[before:])
        assert len(hooks) == 4 and all(hook[2] for hook in hooks)  # (savepoints, function, robust)
        transaction.set_rollback(True)
