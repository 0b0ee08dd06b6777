"""Fault drills on running processes: gunicorn, Celery worker and beat, a throwaway
redis-server, PostgreSQL behind a proxy the test cuts. Each prints what it measured.

Bounded variants run in ``make test``; the ``long`` ones (frozen broker during writes, a
whole worker killed with the production visibility timeout) in ``make test-long``."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context

from tests.conftest import PASSWORD
from tests.faults.conftest import (
    RedisServer,
    Services,
    TcpProxy,
    database_url,
    http_request,
    service_env,
    wait_until,
)

WEBHOOK_SECRET = "whsec_fenxiao_test"  # tests/billing/conftest.py (localstripe signs with it)


@pytest.fixture
def drill_shop(live_db: list[str]) -> Any:
    from tenants.services import shop_signup

    slug = f"drill{uuid.uuid4().hex[:6]}"
    tenant = shop_signup(name="Drill 演练", slug=slug, email=f"owner@{slug}.test", password=PASSWORD, tier="pro").tenant
    live_db.append(slug)
    yield tenant
    from platform_core.models import OutboxMessage

    OutboxMessage.objects.filter(schema_name=tenant.schema_name).delete()


def host(tenant: Any) -> str:
    return f"{tenant.slug}.localhost"


def load(
    port: int, requests: list[tuple[str, str]], seconds: float, threads: int = 3
) -> list[tuple[float, int, float]]:
    """GET the (host, path) list round-robin from ``threads`` clients for ``seconds``:
    [(started at, status, seconds taken)]; status 0 is a connection error."""
    results: list[tuple[float, int, float]] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        n = offset
        while time.monotonic() < stop:
            target_host, path = requests[n % len(requests)]
            n += 1
            started = time.monotonic()
            try:
                status, _headers, _body = http_request(port, "GET", path, target_host, timeout=20)
            except OSError:
                status = 0
            with lock:
                results.append((started, status, time.monotonic() - started))

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


def summary(results: list[tuple[float, int, float]]) -> str:
    statuses: dict[int, int] = {}
    for _s, status, _t in results:
        statuses[status] = statuses.get(status, 0) + 1
    slowest = max((t for _s, _st, t in results), default=0.0)
    return f"{len(results)} requests, statuses {statuses}, slowest {slowest:.2f} s"


# --- Redis stopped and frozen under storefront reads ---------------------------------------------
def test_storefront_reads_keep_serving_while_redis_is_stopped_or_frozen(
    drill_shop: Any, redis_server: RedisServer, services: Services
) -> None:
    from tests.orders.conftest import product

    sku = product(drill_shop, name="Drill tea 演练茶")
    web, port = services.web(service_env(redis_server.url))
    pages = [(host(drill_shop), p) for p in ("/", "/products/", f"/products/{sku.product_id}/")]
    pages.append((host(drill_shop), "/api/v1/catalogue/products/"))
    warm = load(port, pages, 2)
    assert {s for _a, s, _t in warm} == {200}, summary(warm)

    redis_server.stop()
    stopped = load(port, pages, 4)
    status, _h, body = http_request(port, "GET", "/readyz", "10.0.0.1")
    ready_stopped = (status, json.loads(body)["checks"]["cache"])
    redis_server.start()
    time.sleep(1)
    redis_server.freeze()
    try:
        frozen = load(port, pages, 4)
        started = time.monotonic()
        status, _h, body = http_request(port, "GET", "/readyz", "10.0.0.1", timeout=20)
        ready_frozen = (status, json.loads(body)["checks"]["cache"], time.monotonic() - started)
    finally:
        redis_server.thaw()
    after = load(port, pages, 2)
    print(f"\nreads, warm: {summary(warm)}\nRedis stopped: {summary(stopped)}; readyz {ready_stopped}")
    print(
        f"Redis frozen: {summary(frozen)}; readyz {ready_frozen[:2]} in {ready_frozen[2]:.2f} s\nafter: {summary(after)}"
    )
    for phase in (stopped, frozen, after):
        assert phase and {s for _a, s, _t in phase} == {200}, summary(phase)  # 0 5xx, no connection errors
    assert ready_stopped[0] == 200 and ready_stopped[1].startswith("down")
    assert ready_frozen[0] == 200 and ready_frozen[1].startswith("down")
    # a frozen Redis never stalls a worker: no request waits anywhere near a worker timeout
    assert max(t for _a, _s, t in frozen) < 5, summary(frozen)
    web.alive()


# --- Redis stopped (or frozen) during writes: each effect exactly once after it returns ------------
def stripe_env(localstripe_url: str) -> dict[str, str]:
    return {
        "STRIPE_SECRET_KEY": "sk_test_fenxiao",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_fenxiao",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_PAYMENTS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": localstripe_url,
    }


def post(port: int, path: str, host_name: str, data: Any, token: str = "", raw: bytes | None = None, **headers: str):
    body = raw if raw is not None else json.dumps(data).encode()
    if token:
        headers["Authorization"] = token
    status, _h, answer = http_request(
        port, "POST", path, host_name, body=body, headers={"Content-Type": "application/json", **headers}
    )
    return status, answer


@pytest.fixture
def payments_drill(drill_shop: Any, payments_on: None, webhook_sink: Any) -> dict[str, Any]:
    """Three orders of a shop with two levels of distribution: A unpaid (the merchant will
    confirm its offline payment), B with an open card payment (the buyer will cancel it), C
    paid by card at Stripe, its webhooks not yet delivered."""
    from rest_framework.authtoken.models import Token

    from platform_core.accounts.models import User
    from shop.members import services as members
    from tests.distribution.conftest import bound_buyer, chain, configure
    from tests.payments.conftest import pay_by_card, unpaid_order, wait_for
    from tests.payments.test_stripe_payments import start_card_payment

    configure(drill_shop, levels=2, rate_level1_bp=1000, rate_level2_bp=500)
    _root, leaf = chain(drill_shop, 2)
    buyer = bound_buyer(drill_shop, leaf)
    with schema_context(drill_shop.schema_name):
        staff = Token.objects.get_or_create(user=User.objects.get(is_owner=True))[0].key
        _t, member_key = members.token_issue(buyer, name="drill")
    from tests.orders.conftest import member_client

    client = member_client(drill_shop, buyer)
    a = unpaid_order(drill_shop, buyer, price=10_000)
    b = unpaid_order(drill_shop, buyer, price=20_000)
    c = unpaid_order(drill_shop, buyer, price=30_000)
    b_pay = start_card_payment(drill_shop, client, b)
    c_pay = start_card_payment(drill_shop, client, c)
    succeeded = pay_by_card(c_pay["client_secret"])
    deliveries = wait_for(webhook_sink, c_pay["payment_intent"], "payment_intent.succeeded")
    return {
        "a": a,
        "b": b,
        "c": c,
        "b_intent": b_pay["payment_intent"],
        "c_intent": succeeded,
        "c_deliveries": deliveries,
        "staff": f"Token {staff}",
        "member": f"Bearer {member_key}",
    }


def effects(tenant: Any, drill: dict[str, Any]) -> dict[str, Any]:
    from distribution import ledger
    from distribution.models import CommissionLine, OrderCommission
    from shop.orders.models import Order
    from shop.payments.models import Payment, PaymentEvent, Refund

    with schema_context(tenant.schema_name):
        ids = [drill[k].pk for k in ("a", "b", "c")]
        return {
            "status": dict(Order.objects.filter(pk__in=ids).values_list("number", "status")),
            "commission_lines": {
                k: CommissionLine.objects.filter(order_id=drill[k].pk).count() for k in ("a", "b", "c")
            },
            "decided": OrderCommission.objects.filter(order_id__in=ids).count(),
            "b_payment": list(Payment.objects.filter(order_id=drill["b"].pk).values_list("status", flat=True)),
            "c_payments": list(Payment.objects.filter(order_id=drill["c"].pk).values_list("status", flat=True)),
            "refunds": Refund.objects.count(),
            "events_unprocessed": PaymentEvent.objects.filter(processed_at__isnull=True).count(),
            "ledger_problems": ledger.verify_balances(),
        }


def done(tenant: Any, drill: dict[str, Any]) -> bool:
    from platform_core.models import OutboxMessage

    found = effects(tenant, drill)
    return (
        found["commission_lines"] == {"a": 2, "b": 0, "c": 2}
        and found["b_payment"] == ["cancelled"]
        and found["c_payments"] == ["succeeded"]
        and found["events_unprocessed"] == 0
        and not OutboxMessage.objects.filter(schema_name=tenant.schema_name).exists()
    )


def run_writes_drill(
    tenant: Any, drill: dict[str, Any], redis_server: RedisServer, services: Services, localstripe_url: str, fault: str
) -> None:
    from platform_core import stripe_gateway as gateway
    from platform_core.models import OutboxMessage
    from tests.payments.conftest import intent_event, signed

    env = service_env(redis_server.url, **stripe_env(localstripe_url))
    services.worker(env, concurrency=2)
    services.beat(env)
    web, port = services.web(env)
    shop_host = host(tenant)

    (redis_server.stop if fault == "stopped" else redis_server.freeze)()
    outage = time.monotonic()
    paid = post(
        port, f"/api/v1/console/orders/{drill['a'].pk}/mark-paid/", shop_host, {"amount": 10_000}, drill["staff"]
    )
    cancelled = post(port, f"/api/v1/orders/{drill['b'].pk}/cancel/", shop_host, {}, drill["member"])
    stale = {**drill["c_intent"], "status": "requires_payment_method", "last_payment_error": {"code": "card_declined"}}
    late_failure = signed(intent_event("payment_intent.payment_failed", stale, f"evt_drill_{uuid.uuid4().hex[:8]}"))
    body, signature = drill["c_deliveries"][0]
    hooks = [
        post(port, "/payments/stripe/webhook/", "localhost", None, raw=b, **{"Stripe-Signature": s})
        for b, s in [(body, signature), late_failure, (body, signature), (body, signature)]
    ]
    writes_took = time.monotonic() - outage
    assert paid[0] == 200, paid
    assert cancelled[0] == 200, cancelled
    assert [h[0] for h in hooks] == [200] * 4, hooks
    assert [json.loads(h[1])["outcome"] for h in hooks] == ["recorded", "recorded", "requeued", "requeued"]
    waiting = sorted(OutboxMessage.objects.filter(schema_name=tenant.schema_name).values_list("task", flat=True))
    assert waiting == [
        "distribution.order_paid",
        "payments.cancel_open_intents",
        *["payments.process_event"] * 4,
    ]
    time.sleep(3)  # the outage goes on: nothing is lost meanwhile
    (redis_server.start if fault == "stopped" else redis_server.thaw)()
    back = time.monotonic()
    wait_until(lambda: done(tenant, drill), 60, "every write's effect after the broker returned", every=0.25)
    recovered = time.monotonic() - back
    time.sleep(3)  # redeliveries and relays that might double something have had their chance
    final = effects(tenant, drill)
    print(
        f"\nwrites with Redis {fault}: 6 writes answered in {writes_took:.2f} s; every effect done "
        f"{recovered:.1f} s after Redis returned; final {final}"
    )
    assert final["commission_lines"] == {"a": 2, "b": 0, "c": 2}  # once each, never twice
    assert final["decided"] == 2 and final["refunds"] == 0 and final["ledger_problems"] == []
    assert final["c_payments"] == ["succeeded"] and final["b_payment"] == ["cancelled"]
    intent = gateway.v1().payment_intents.retrieve(drill["b_intent"])
    assert intent["status"] == "canceled"  # the cancelled order can no longer be paid
    web.alive()


def test_writes_while_redis_is_stopped_take_effect_once_after_it_returns(
    drill_shop: Any,
    payments_drill: dict[str, Any],
    redis_server: RedisServer,
    services: Services,
    localstripe_url: str,
) -> None:
    run_writes_drill(drill_shop, payments_drill, redis_server, services, localstripe_url, "stopped")


@pytest.mark.long
def test_writes_while_redis_is_frozen_take_effect_once_after_it_returns(
    drill_shop: Any,
    payments_drill: dict[str, Any],
    redis_server: RedisServer,
    services: Services,
    localstripe_url: str,
) -> None:
    run_writes_drill(drill_shop, payments_drill, redis_server, services, localstripe_url, "frozen")


# --- a worker killed mid-settlement -------------------------------------------------------------
def settlement_state(tenant: Any) -> dict[str, Any]:
    from distribution import ledger
    from distribution.models import CommissionLine, LedgerTransaction

    with schema_context(tenant.schema_name):
        return {
            "settled": CommissionLine.objects.filter(status="settled").count(),
            "pending": CommissionLine.objects.filter(status="pending").count(),
            "settle_transactions": LedgerTransaction.objects.filter(kind="settle").count(),
            "ledger_problems": ledger.verify_balances(),
        }


def run_settlement_drill(
    tenant: Any, redis_server: RedisServer, services: Services, whole_worker: bool, lines: int = 6_000, **env: str
) -> None:
    from bench.distribution import build_settlement
    from platform_core.celery import app
    from tests.orders.conftest import product

    product(tenant, name="Settled tea")
    with schema_context(tenant.schema_name):
        build_settlement(lines, 0, 2_000)
    environment = service_env(redis_server.url, **env)
    worker = services.worker(environment, name="first")
    spare = None
    from kombu import Connection

    with Connection(redis_server.url) as conn:
        app.send_task(
            "distribution.settle_due", headers={"_schema_name": tenant.schema_name}, connection=conn, retry=False
        )
    wait_until(lambda: settlement_state(tenant)["settled"] >= 1_000, 120, "settlement to be under way", every=0.05)
    if whole_worker:
        worker.kill()  # the worker and its pool, at once: its message stays unacknowledged in Redis
        spare = services.worker(environment, name="replacement")  # as the orchestrator would start
    else:
        [child] = worker.children()  # the pool process running the task (OOM killer, a crash)
        os.kill(child, signal.SIGKILL)
    killed = time.monotonic()
    at_kill = settlement_state(tenant)
    assert 0 < at_kill["settled"] < lines, at_kill
    wait_until(lambda: settlement_state(tenant)["pending"] == 0, 150, "the settlement to resume and finish", every=0.2)
    resumed = time.monotonic() - killed
    final = settlement_state(tenant)
    print(
        f"\nsettlement of {lines} lines, {'whole worker' if whole_worker else 'pool process'} killed at "
        f"{at_kill['settled']} settled: finished {resumed:.1f} s later by itself; final {final}"
    )
    assert final == {"settled": lines, "pending": 0, "settle_transactions": lines, "ledger_problems": []}
    (spare or worker).alive()


def test_a_worker_process_killed_mid_settlement_resumes_at_once_and_settles_each_line_once(
    drill_shop: Any, redis_server: RedisServer, services: Services
) -> None:
    run_settlement_drill(drill_shop, redis_server, services, whole_worker=False)


@pytest.mark.long
def test_a_worker_process_killed_mid_settlement_of_20000_lines(
    drill_shop: Any, redis_server: RedisServer, services: Services
) -> None:
    run_settlement_drill(drill_shop, redis_server, services, whole_worker=False, lines=20_000)


@pytest.mark.long
def test_a_whole_worker_killed_mid_settlement_is_resumed_by_another_after_the_visibility_timeout(
    drill_shop: Any, redis_server: RedisServer, services: Services
) -> None:
    """The same with a short visibility timeout (the mechanism); ``make test-long`` runs it
    with the production default."""
    run_settlement_drill(drill_shop, redis_server, services, whole_worker=True, CELERY_VISIBILITY_TIMEOUT="8")


@pytest.mark.long
def test_a_whole_worker_killed_mid_settlement_resumes_within_a_minute_with_the_production_timeout(
    drill_shop: Any, redis_server: RedisServer, services: Services
) -> None:
    run_settlement_drill(drill_shop, redis_server, services, whole_worker=True, lines=20_000)


# --- PostgreSQL unreachable under load -----------------------------------------------------------
@pytest.fixture
def db_proxy() -> Iterator[TcpProxy]:
    from django.db import connection

    proxy = TcpProxy(int(connection.settings_dict["PORT"] or 5432))
    yield proxy
    proxy.close()


def run_database_drill(
    tenant: Any, redis_server: RedisServer, services: Services, db_proxy: TcpProxy, down_seconds: float
) -> None:
    from tests.orders.conftest import product

    sku = product(tenant, name="DB drill tea")
    env = service_env(redis_server.url, DATABASE_URL=database_url(db_proxy.port), DB_CONN_MAX_AGE="60")
    web, port = services.web(env)
    pages = [(host(tenant), p) for p in ("/", f"/products/{sku.product_id}/", "/api/v1/catalogue/products/")]
    assert {s for _a, s, _t in load(port, pages, 1.5)} == {200}

    results: list[tuple[float, int, float]] = []
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def background() -> None:
        results.extend(load(port, pages, 3 + down_seconds + 4))

    runner = threading.Thread(target=background)
    runner.start()
    time.sleep(3)
    db_proxy.cut()
    cut_at = time.monotonic()
    time.sleep(down_seconds / 2)
    # (pages and lists the cache holds may still be served; these always need the database)
    answers["api"] = http_request(
        port,
        "POST",
        "/api/v1/members/login/",
        host(tenant),
        body=b'{"login": "13900000009", "password": "whatever-1"}',
        headers={"Content-Type": "application/json"},
    )
    # (an anonymous cart page needs nothing from the database; a product page always reads it)
    answers["page"] = http_request(
        port, "GET", f"/products/{sku.product_id}/", host(tenant), headers={"Accept-Language": "zh-hans"}
    )
    time.sleep(down_seconds / 2)
    restoring_at = time.monotonic()
    db_proxy.restore()
    back_at = time.monotonic()
    runner.join()

    during = [r for r in results if cut_at + 0.5 < r[0] and r[0] + r[2] < restoring_at]
    after_back = [r for r in results if r[0] >= back_at]
    first_ok = min((r[0] + r[2] for r in after_back if r[1] == 200), default=None)
    assert first_ok is not None, summary(after_back)
    settled = [r for r in after_back if r[0] > first_ok]
    print(
        f"\nPostgreSQL cut for {down_seconds} s under load: during {summary(during)}; after: {summary(after_back)}; "
        f"first success {first_ok - back_at:.2f} s after it returned"
    )
    statuses = {s for _a, s, _t in results}
    assert 500 not in statuses and 0 not in statuses, summary(results)
    # whatever needs the database answers 503 (what the caches hold may still answer 200)
    assert during and {s for _a, s, _t in during} <= {200, 503} and 503 in {s for _a, s, _t in during}, summary(during)
    assert settled and {s for _a, s, _t in settled} == {200}, summary(settled)  # 0 errors after
    status, headers, body = answers["api"]
    assert status == 503 and headers["retry-after"] == "5" and json.loads(body)["code"] == "service_unavailable"
    status, headers, body = answers["page"]
    assert status == 503 and headers["retry-after"] == "5" and headers["content-type"].startswith("text/html")
    assert "服务暂时不可用" in body.decode()
    web.alive()


def test_postgresql_unreachable_under_load_answers_503_then_recovers(
    drill_shop: Any, redis_server: RedisServer, services: Services, db_proxy: TcpProxy
) -> None:
    run_database_drill(drill_shop, redis_server, services, db_proxy, down_seconds=4)


@pytest.mark.long
def test_postgresql_unreachable_for_half_a_minute_under_load(
    drill_shop: Any, redis_server: RedisServer, services: Services, db_proxy: TcpProxy
) -> None:
    run_database_drill(drill_shop, redis_server, services, db_proxy, down_seconds=30)


# --- a worker killed mid-refund -----------------------------------------------------------------
@pytest.mark.long
def test_a_worker_killed_mid_refund_resumes_and_refunds_once(
    drill_shop: Any,
    payments_drill: dict[str, Any],
    redis_server: RedisServer,
    services: Services,
    localstripe_url: str,
) -> None:
    """Stripe accepted the refund, the worker died before recording it: the requeued task
    asks again with the same idempotency key and gets the same refund; the money goes back
    once and the commission is taken back once."""
    from distribution import ledger
    from distribution.models import CommissionLine
    from shop.payments.models import Payment, Refund
    from tests.conftest import platform_client
    from tests.faults.conftest import StripeProxy

    # the card payment of order C is applied (its webhook, processed here)
    body, signature = payments_drill["c_deliveries"][0]
    platform_client().post(
        "/payments/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    order = payments_drill["c"]
    with schema_context(drill_shop.schema_name):
        assert CommissionLine.objects.filter(order_id=order.pk).count() == 2
    stripe = StripeProxy(localstripe_url)
    try:
        env = service_env(redis_server.url, **{**stripe_env(localstripe_url), "STRIPE_API_BASE": stripe.url})
        worker = services.worker(env)
        web, port = services.web(env)
        stripe.hold_refunds.set()
        status, answer = post(
            port,
            f"/api/v1/console/orders/{order.pk}/refunds/",
            host(drill_shop),
            {"amount": 30_000, "reason": "drill"},
            payments_drill["staff"],
        )
        assert status in (200, 201), answer
        assert stripe.refund_reached.wait(30), "the refund never reached Stripe"
        [child] = worker.children()
        os.kill(child, signal.SIGKILL)  # Stripe made the refund; the worker dies before recording it
        killed = time.monotonic()
        stripe.hold_refunds.clear()
        stripe.release.set()

        def refunded() -> bool:
            with schema_context(drill_shop.schema_name):
                return Refund.objects.filter(payment__order_id=order.pk, status="succeeded").exists()

        wait_until(refunded, 60, "the refund to be recorded", every=0.2)
        took = time.monotonic() - killed
        time.sleep(2)
        with schema_context(drill_shop.schema_name):
            refunds = list(Refund.objects.filter(payment__order_id=order.pk).values_list("status", "amount"))
            payment = Payment.objects.get(order_id=order.pk, status="succeeded")
            lines = list(CommissionLine.objects.filter(order_id=order.pk).values_list("amount", "reversed_amount"))
            problems = ledger.verify_balances()
        created = [r for r in stripe.forwarded if r.startswith("POST /v1/refunds")]
        print(
            f"\nworker killed mid-refund: recorded {took:.1f} s later; refund creations sent to Stripe "
            f"{len(created)}, answered from its idempotency {len(stripe.replayed)}; refunds {refunds}"
        )
        assert refunds == [("succeeded", 30_000)] and payment.refunded_amount == 30_000
        assert len(created) == 1 and len(stripe.replayed) >= 1  # Stripe was asked twice, refunded once
        assert all(amount == reversed_amount for amount, reversed_amount in lines), lines  # taken back once
        assert problems == []
        web.alive()
    finally:
        stripe.close()
