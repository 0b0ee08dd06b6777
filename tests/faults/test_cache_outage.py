"""The cache fails soft, against a throwaway redis-server stopped and frozen for real:
reads become misses served from the database, writes are skipped, a frozen Redis costs one
short timeout and then the breaker skips it, invalidations missed during the outage are
repeated when it returns, rate limits keep counting (in process), /readyz answers at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from platform_core.cache import ResilientRedisCache, reset_breaker
from tests.conftest import shop_client
from tests.faults.conftest import RedisServer

pytestmark = pytest.mark.django_db


def finishes(fn: Any, within: float = 5.0) -> Any:
    """Run ``fn`` in a thread; fail if it hangs (a stalled worker)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"{fn} still waiting after {within} s"
    return result[0]


@pytest.fixture
def redis_cache(redis_server: RedisServer, settings: Any) -> Iterator[RedisServer]:
    """The app's default cache is the resilient Redis cache on the throwaway server."""
    settings.CACHE_BREAKER_SECONDS = 0.5
    reset_breaker()
    caches = {
        "default": {
            "BACKEND": "platform_core.cache.ResilientRedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
            "KEY_FUNCTION": "django_tenants.cache.make_key",
            "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        }
    }
    with override_settings(CACHES=caches):
        yield redis_server
    reset_breaker()


def backend() -> ResilientRedisCache:
    from django.core.cache import caches

    found = caches["default"]
    assert isinstance(found, ResilientRedisCache)
    return found


def test_reads_miss_and_writes_are_skipped_while_redis_is_stopped(redis_cache: RedisServer) -> None:
    c = backend()
    c.set("k", "v")
    assert c.get("k") == "v"
    redis_cache.stop()
    assert finishes(lambda: c.get("k", "default")) == "default"
    assert not c.available()  # the breaker is open: the next calls do not touch the socket
    assert c.get_many(["k"]) == {} and c.has_key("k") is False and c.add("n", 1) is False
    c.set("k", "other")  # skipped, no error
    ok, detail = c.ping()
    assert not ok and detail.startswith("down")


def test_a_frozen_redis_costs_one_short_wait_then_is_skipped(redis_cache: RedisServer) -> None:
    c = backend()
    c.set("k", "v")
    redis_cache.freeze()
    try:
        assert finishes(lambda: c.get("k", "miss"), within=3) == "miss"
        assert not c.available()
        assert finishes(lambda: [c.get("k", "miss") for _ in range(100)], within=1) == ["miss"] * 100
    finally:
        redis_cache.thaw()


def test_an_invalidation_missed_during_the_outage_is_repeated_when_redis_returns(
    redis_cache: RedisServer, settings: Any
) -> None:
    import time

    c = backend()
    c.set("catalogue:version", "before-the-change")
    redis_cache.stop()
    c.delete("catalogue:version")  # a catalogue write while Redis is away
    redis_cache.start()  # the append-only file brought the old entry back
    time.sleep(settings.CACHE_BREAKER_SECONDS + 0.1)
    assert c.get("catalogue:version") is None  # the first call replayed the delete
    assert redis_cache.command("DBSIZE") == b"0"


def test_the_storefront_and_readyz_serve_without_redis(alpha: Any, redis_cache: RedisServer) -> None:
    from tests.orders.conftest import product

    sku = product(alpha, name="Cache-free tea")
    client = shop_client(alpha)
    for path in ("/", "/products/", f"/products/{sku.product_id}/"):
        assert client.get(path).status_code == 200
    redis_cache.stop()
    for path in ("/", "/products/", f"/products/{sku.product_id}/", "/api/v1/catalogue/products/"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert "Cache-free tea" in client.get("/products/").content.decode()
    ready = Client(HTTP_HOST="10.0.0.1").get("/readyz")
    assert ready.status_code == 200  # the database serves: the pod stays in service
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["cache"].startswith("down")


def test_login_limits_keep_counting_while_redis_is_down(alpha: Any, redis_cache: RedisServer) -> None:
    """Deliberate: neither open (unlimited password guessing during the outage) nor closed
    (nobody can log in): counted in the process's memory until Redis returns."""
    from tests.orders.conftest import member

    member(alpha, "13900000001")
    redis_cache.stop()
    client = shop_client(alpha)
    statuses = []
    for _ in range(21):
        response = client.post(
            "/api/v1/members/login/",
            data=json.dumps({"login": "13900000001", "password": "wrong-password-1"}),
            content_type="application/json",
        )
        statuses.append(response.status_code)
    assert 500 not in statuses and statuses[-1] == 429 and 429 not in statuses[:20]
