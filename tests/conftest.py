"""Shared test fixtures.

Shops are made through the same fast provisioning path as signup (pool or DDL replay),
never a migrate per schema. Two read-only fixture shops, ``alpha`` (standard) and
``beta`` (pro), are created once per session and shared; tests that change data run in
a transaction that is rolled back (pytest-django's ``db``), and tests that need
committed data (other connections, worker processes) use ``live_db`` and clean up.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from platform_core.tenancy import use_public_schema

PASSWORD = "correct-horse-battery-9"
SHOPS = {
    "alpha": ("Alpha 分销商城", "standard", "owner@alpha.test"),
    "beta": ("Beta Store", "pro", "owner@beta.test"),
}


def pytest_configure(config: Any) -> None:
    if os.environ.get("CI") == "true":
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError(f"CI=true but {', '.join(missing)} unset: the tests need the real services")


@pytest.fixture(scope="session")
def django_db_setup(
    django_test_environment: Any, django_db_blocker: Any, django_db_modify_db_settings: Any
) -> Iterator[None]:
    """Always the test database (pytest-django would skip it for a session whose tests
    only use ``live_db``, leaving the connection on the real database), with the platform,
    the shop template and the shared fixture shops."""
    from django.test.utils import setup_databases, teardown_databases

    from tenants.schemas import ensure_template
    from tenants.services import ensure_platform, shop_signup

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default": True}, serialized_aliases=set())
        assert connection.settings_dict["NAME"].startswith("test_")
        ensure_platform()
        ensure_template()
        from themes.catalogue import ensure_builtin_themes

        ensure_builtin_themes()
        for slug, (name, tier, email) in SHOPS.items():
            shop_signup(name=name, slug=slug, email=email, password=PASSWORD, tier=tier)
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    from platform_core.localcache import memo

    cache.clear()
    memo.clear()  # records of the previous test's rolled-back transaction
    yield
    use_public_schema()


_GUARD: dict[str, Any] = {}


def _query_guard() -> Any:
    from tenants.scaleout import QueryGuard

    if "guard" not in _GUARD:
        _GUARD["loading"] = True
        try:
            _GUARD["guard"] = QueryGuard.load()
        finally:
            _GUARD.pop("loading")
    return _GUARD["guard"]


@pytest.fixture(autouse=True)
def _citus_query_guard() -> Iterator[None]:
    """Every statement a request runs in a shop's schema, in every test that makes requests
    (storefront, console, API): none may join two shops, or a shop's tables and a public table
    that is not a reference table (tenants/scaleout.py, docs/scale-out.md)."""
    from django.core.signals import request_finished, request_started

    problems: list[str] = []
    depth = [0]

    def started(**_kwargs: Any) -> None:
        depth[0] += 1

    def finished(**_kwargs: Any) -> None:
        depth[0] = max(0, depth[0] - 1)

    def guard(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        schema = getattr(connection, "schema_name", "public")
        if depth[0] and schema != "public" and "loading" not in _GUARD:
            problem = _query_guard().problem(sql, schema)
            if problem:
                problems.append(f"{problem}:\n    {sql[:400]}")
        return execute(sql, params, many, context)

    request_started.connect(started, dispatch_uid="citus-guard-started", weak=False)
    request_finished.connect(finished, dispatch_uid="citus-guard-finished", weak=False)
    try:
        with connection.execute_wrapper(guard):
            yield
    finally:
        request_started.disconnect(dispatch_uid="citus-guard-started")
        request_finished.disconnect(dispatch_uid="citus-guard-finished")
    if problems:
        pytest.fail("a request ran a query that ties shops together:\n" + "\n".join(dict.fromkeys(problems)))


def host_of(tenant: Any) -> str:
    return f"{tenant.slug}.{settings.PLATFORM_DOMAIN}"


@pytest.fixture
def alpha(db: Any) -> Any:
    from tenants.models import Tenant

    return Tenant.objects.get(slug="alpha")


@pytest.fixture
def beta(db: Any) -> Any:
    from tenants.models import Tenant

    return Tenant.objects.get(slug="beta")


def shop_client(tenant: Any, **extra: Any) -> Client:
    return Client(HTTP_HOST=host_of(tenant), **extra)


def platform_client(**extra: Any) -> Client:
    return Client(HTTP_HOST=settings.PLATFORM_DOMAIN, **extra)


def login_client(tenant: Any, email: str | None = None) -> Client:
    """A client of ``tenant``'s host logged in as ``email`` (the owner by default); the
    session is stored in the shop's schema, as a real login would."""
    from django.contrib.auth import get_user_model

    client = shop_client(tenant)
    with schema_context(tenant.schema_name):
        users = get_user_model().objects
        user = users.get(email=email) if email else users.get(is_owner=True)
        client.force_login(user)
    return client


def owner_client(tenant: Any) -> Client:
    return login_client(tenant)


def english(client: Client) -> Client:
    """The visitor chose English (shops default to Simplified Chinese)."""
    client.cookies["django_language"] = "en"
    return client


@contextmanager
def in_shop(tenant: Any) -> Iterator[None]:
    with schema_context(tenant.schema_name):
        yield


def redis_reachable() -> bool:
    url = urlparse(settings.REDIS_URL or "redis://127.0.0.1:6379")
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    """A real Redis: under CI=true its absence is a failure, elsewhere a skip."""
    if not settings.REDIS_URL or not redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("REDIS_URL is not reachable under CI=true")
        pytest.skip("no Redis here (set REDIS_URL)")
    return str(settings.REDIS_URL)


@pytest.fixture
def live_db(django_db_setup: Any, django_db_blocker: Any) -> Iterator[list[str]]:
    """Committed database access (for other connections and processes). Register the slugs
    of shops you create in the yielded list; they are removed afterwards."""
    from tenants.models import Domain, PooledSchema, Tenant
    from tenants.schemas import drop_schema

    created: list[str] = []
    with django_db_blocker.unblock():
        assert connection.settings_dict["NAME"].startswith("test_"), "live_db must never touch a real database"
        pool_before = set(PooledSchema.objects.values_list("schema_name", flat=True))
        yield created
        use_public_schema()
        for tenant in Tenant.objects.filter(slug__in=created):
            Domain.objects.filter(tenant=tenant).delete()
            tenant.delete()
            drop_schema(tenant.schema_name)
        for entry in PooledSchema.objects.exclude(schema_name__in=pool_before):
            drop_schema(entry.schema_name)
            entry.delete()
