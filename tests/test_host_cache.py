"""Host → shop without a query (``tenants.hosts`` on ``platform_core.localcache``): a
request for a known host sends no lookup, feature checks read the same cached record,
every change is seen at once in the process that made it and within a second in others
(two gunicorn processes), and without Redis (down or frozen) the database answers."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from platform_core import features
from platform_core.localcache import memo
from tenants.models import Domain, Tenant
from tenants.services import (
    tenant_change_tier,
    tenant_resume,
    tenant_set_feature_override,
    tenant_set_status,
    tenant_suspend,
)
from tests.conftest import PASSWORD, shop_client

REPO = Path(__file__).resolve().parent.parent
LOOKUP_TABLES = ("tenants_domain", "tenants_tenant", "platform_core_featureoverride")
PROBE = "/api/v1/catalogue/products/999999/"  # a shop API that always reads its schema: 404


def lookups(captured: CaptureQueriesContext) -> list[str]:
    """Queries that look a shop up, or switch to the public schema to do so."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if any(table in q["sql"] for table in LOOKUP_TABLES) or q["sql"] == 'SET search_path = "public"'
    ]


@pytest.mark.django_db
def test_a_known_host_is_routed_without_a_query(alpha: Any) -> None:
    client = shop_client(alpha)
    with CaptureQueriesContext(connection) as first:
        assert client.get(PROBE).status_code == 404
    assert lookups(first), "the first request of a process reads the host's shop"
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(PROBE)
        assert response.status_code == 404
        assert lookups(captured) == []
        # the connection is still in the shop's schema: not even the search path is sent
        assert not [q for q in captured.captured_queries if q["sql"].startswith("SET search_path")]


@pytest.mark.django_db
def test_the_search_path_follows_the_host_when_requests_alternate(alpha: Any, beta: Any) -> None:
    for tenant in (alpha, beta):
        shop_client(tenant).get(PROBE)  # both records read
    previous = beta
    for tenant in (alpha, beta, alpha, alpha, beta, beta, alpha):
        with CaptureQueriesContext(connection) as captured:
            assert shop_client(tenant).get(PROBE).status_code == 404
        sets = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SET search_path")]
        # sent when the connection's last request was for another shop, and only then
        assert sets == ([f'SET search_path = "{tenant.schema_name}","public"'] if tenant != previous else [])
        assert captured.captured_queries[len(sets) :], "the view read its shop's schema"
        previous = tenant


@pytest.mark.django_db
def test_feature_overrides_come_from_the_same_cached_record(alpha: Any) -> None:
    shop_client(alpha).get(PROBE)  # the record is read once
    elsewhere = Tenant.objects.get(pk=alpha.pk)  # a shop not routed by host (a task, the operator console)
    with CaptureQueriesContext(connection) as captured:
        assert features.feature_value(elsewhere, "products") == 500
        assert not features.has_feature(elsewhere, "flash_sales")
    assert captured.captured_queries == []
    request = shop_client(alpha).get(PROBE).wsgi_request
    with CaptureQueriesContext(connection) as captured:
        assert not features.has_feature(request.tenant, "flash_sales")
    assert captured.captured_queries == []


@pytest.mark.django_db
def test_changes_take_effect_at_once_in_the_process_that_made_them(alpha: Any) -> None:
    client = shop_client(alpha)
    assert client.get("/").status_code == 200
    tenant_suspend(alpha, actor=None, reason="unpaid invoice")
    assert client.get("/").status_code == 503
    tenant_resume(alpha, actor=None)
    assert client.get("/").status_code == 200
    tenant_change_tier(alpha, "pro", actor=None)
    assert shop_client(alpha).get(PROBE).wsgi_request.tenant.tier == "pro"
    tenant_set_feature_override(alpha, "flash_sales", False, actor=None)
    assert not features.has_feature(shop_client(alpha).get(PROBE).wsgi_request.tenant, "flash_sales")


@pytest.mark.django_db
def test_a_removed_or_unverified_host_stops_routing(alpha: Any) -> None:
    host = Domain.objects.create(domain="brand.example.com", tenant=alpha, kind="custom", verified=True)
    assert Client(HTTP_HOST="brand.example.com").get("/").status_code == 200
    host.verified = False
    host.save()
    assert Client(HTTP_HOST="brand.example.com").get("/").status_code == 404
    host.verified = True
    host.save()
    assert Client(HTTP_HOST="brand.example.com").get("/").status_code == 200
    host.delete()
    assert Client(HTTP_HOST="brand.example.com").get("/").status_code == 404


@pytest.mark.django_db
def test_unknown_hosts_are_not_remembered(alpha: Any) -> None:
    for n in range(5):
        assert Client(HTTP_HOST=f"nosuch{n}.localhost").get("/").status_code == 404
    entry = memo._scopes.get("tenancy")
    assert entry is not None
    assert not [key for key in entry[2] if key[0] == "host" and key[1].startswith("nosuch")]


# --- without Redis ----------------------------------------------------------------------
def _platform_cache_at(port: int) -> dict[str, Any]:
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    caches["platform"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "KEY_PREFIX": "platform",
        "OPTIONS": {"socket_timeout": 0.25, "socket_connect_timeout": 0.25},
    }
    return caches


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.django_db
def test_redis_down_routes_from_the_database(alpha: Any, beta: Any) -> None:
    shop_client(alpha).get(PROBE)
    down = override_settings(CACHES=_platform_cache_at(_closed_port()), LOCAL_CACHE_CHECK_SECONDS=0)
    with down:
        for tenant in (alpha, beta, alpha):
            with CaptureQueriesContext(connection) as captured:
                response = shop_client(tenant).get(PROBE)
            assert response.status_code == 404 and response.wsgi_request.tenant.pk == tenant.pk
            assert lookups(captured), "no shared cache: nothing is trusted, the database answers"
    memo._down_until = 0.0  # Redis is back (without waiting out the retry delay)
    with CaptureQueriesContext(connection) as captured:
        assert shop_client(alpha).get(PROBE).status_code == 404
    assert lookups(captured), "after an outage every record is read again"
    with CaptureQueriesContext(connection) as captured:
        assert shop_client(alpha).get(PROBE).status_code == 404
    assert lookups(captured) == []
    with down:
        memo._down_until = 0.0
        assert shop_client(beta).get(PROBE).status_code == 404
        tenant_suspend(beta, actor=None, reason="abuse")
        assert shop_client(beta).get(PROBE).status_code == 503


@pytest.fixture
def frozen_redis() -> Iterator[int]:
    """A port that accepts connections and never answers (a Redis stopped by SIGSTOP)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    server.close()


@pytest.mark.django_db
def test_a_frozen_redis_is_asked_once_then_left_alone_until_the_retry(
    alpha: Any, frozen_redis: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = memo._read_generation

    def counted(scope: str) -> Any:
        asked.append(scope)
        return real(scope)

    monkeypatch.setattr(memo, "_read_generation", counted)
    with override_settings(
        CACHES=_platform_cache_at(frozen_redis), LOCAL_CACHE_CHECK_SECONDS=0, LOCAL_CACHE_RETRY_SECONDS=600
    ):
        began = time.monotonic()
        assert shop_client(alpha).get(PROBE).status_code == 404
        assert time.monotonic() - began < 5, "a frozen Redis must cost a short socket timeout, not a hang"
        assert asked == ["tenancy"] and memo._was_down
        for _ in range(5):
            assert shop_client(alpha).get(PROBE).status_code == 404
        assert asked == ["tenancy"], "while it is considered down, requests do not wait on it"


# --- the protocol, with two memos (two processes) sharing the real Redis ---------------
@pytest.mark.django_db
def test_two_memos_see_each_others_changes(redis_url: str, django_capture_on_commit_callbacks: Any) -> None:
    from platform_core.localcache import LocalCache

    a, b = LocalCache(), LocalCache()
    version = {"value": 1}
    read = lambda: version["value"]  # noqa: E731 - the "database"
    with override_settings(LOCAL_CACHE_CHECK_SECONDS=0):
        assert (a.get("test:x", "k", read), b.get("test:x", "k", read)) == (1, 1)
        version["value"] = 2
        assert b.get("test:x", "k", read) == 1  # kept: nothing announced yet
        with django_capture_on_commit_callbacks(execute=True):
            a.changed("test:x")
            assert a.get("test:x", "k", read) == 2  # the writer's own transaction reads the database
        assert b.get("test:x", "k", read) == 2  # announced at commit: the other process reloads
        assert a.get("test:x", "k", read) == 2
        version["value"] = 3  # (not announced)
        assert (a.get("test:x", "k", read), b.get("test:x", "k", read)) == (2, 2)


@pytest.mark.django_db
def test_a_change_announced_while_redis_was_down_is_announced_when_it_returns(
    redis_url: str, django_capture_on_commit_callbacks: Any
) -> None:
    from platform_core.localcache import LocalCache

    writer, reader = LocalCache(), LocalCache()
    version = {"value": 1}
    read = lambda: version["value"]  # noqa: E731
    with override_settings(LOCAL_CACHE_CHECK_SECONDS=0, LOCAL_CACHE_RETRY_SECONDS=0):
        assert reader.get("test:y", "k", read) == 1
        version["value"] = 2
        with override_settings(CACHES=_platform_cache_at(_closed_port())):
            with django_capture_on_commit_callbacks(execute=True):
                writer.changed("test:y")  # the announcement fails
        assert writer._unannounced == {"test:y"}
        assert reader.get("test:y", "k", read) == 1  # the reader could not know yet
        assert writer.get("test:y", "k", read) == 2  # the writer's next check announces it
        assert writer._unannounced == set()
        assert reader.get("test:y", "k", read) == 2


@pytest.mark.django_db
def test_no_record_outlives_the_max_age(redis_url: str) -> None:
    from platform_core.localcache import LocalCache

    local = LocalCache()
    version = {"value": 1}
    read = lambda: version["value"]  # noqa: E731
    with override_settings(LOCAL_CACHE_MAX_AGE=0):
        assert local.get("test:z", "k", read) == 1
        version["value"] = 2
        assert local.get("test:z", "k", read) == 2


# --- across processes -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, host: str, path: str = "/") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host, "Accept": "text/html"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _serve(port: int, log: Path) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = url.replace("@", f":{db['PASSWORD']}@", 1)
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="platform_core.settings",
        DATABASE_URL=url,
        REDIS_URL=str(settings.REDIS_URL),
        CELERY_TASK_ALWAYS_EAGER="true",
        SCHEMA_POOL_SIZE="0",
        LOG_LEVEL="WARNING",
        DJANGO_SECRET_KEY="host-cache-test-" + "x" * 40,
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "platform_core.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        "--threads=2",
        "--log-level=warning",
        f"--error-logfile={log}",
    ]
    return subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL)


def test_a_suspension_reaches_every_process_within_a_second(live_db: list[str], redis_url: str, tmp_path: Path) -> None:
    from tenants.services import shop_signup

    live_db.append("hostcache")
    tenant = shop_signup(
        name="Host cache", slug="hostcache", email="owner@hostcache.test", password=PASSWORD, tier="standard"
    ).tenant
    host = f"hostcache.{settings.PLATFORM_DOMAIN}"
    ports = [_free_port(), _free_port()]
    servers = [_serve(port, tmp_path / f"gunicorn-{n}.log") for n, port in enumerate(ports)]
    try:
        for port, server in zip(ports, servers, strict=True):
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _get(port, "127.0.0.1", "/healthz") == 200:
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    logs = "".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log"))
                    pytest.fail(f"gunicorn did not start:\n{logs}")
                time.sleep(0.1)
            for _ in range(4):  # both threads of each process have the shop in memory
                assert _get(port, host) == 200
        for status, expected in (("suspended", 503), ("active", 200), ("closed", 410), ("active", 200)):
            tenant = tenant_set_status(tenant, status, actor=None, reason="test" if status != "active" else "")
            # each process looks at the generation at most every LOCAL_CACHE_CHECK_SECONDS: once that much
            # time has passed (well under the 1 s promised), the very next request sees the change, however
            # loaded the machine is (no stopwatch on the request itself)
            time.sleep(settings.LOCAL_CACHE_CHECK_SECONDS + 0.05)
            assert settings.LOCAL_CACHE_CHECK_SECONDS < 1.0
            assert [_get(port, host) for port in ports] == [expected, expected], status
            for port in ports:  # and it stays so
                assert {_get(port, host) for _ in range(6)} == {expected}
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
