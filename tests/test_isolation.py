"""The known leak classes of schema-per-tenant Django, each with a test that would catch
the leak: unscoped views, cache keys, media paths, Celery tasks, log lines, rate limits."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from celery import shared_task
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from platform_core.logging import ShopContextFilter
from platform_core.scoping import ShopAPIView, ShopScopedMixin, ShopViewSet
from platform_core.storage import ShopS3Storage
from platform_core.tasks import publish_on_commit
from platform_core.tenancy import current_schema, use_tenant
from shop import staff as staff_services
from tests.conftest import PASSWORD, in_shop, login_client, owner_client, shop_client

pytestmark = pytest.mark.django_db

# Views on shop hosts that serve no shop data.
EXEMPT_VIEWS = {"SpectacularAPIView", "SpectacularSwaggerView", "set_language"}


def tenant_patterns() -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                found.append((prefix + str(p.pattern), p))

    walk(get_resolver("platform_core.urls_tenant").url_patterns, "")
    return found


def view_class(pattern: URLPattern) -> Any:
    callback = pattern.callback
    return getattr(callback, "view_class", None) or getattr(callback, "cls", None) or callback


def test_every_shop_view_inherits_the_scoped_base() -> None:
    unscoped = []
    for route, pattern in tenant_patterns():
        cls = view_class(pattern)
        name = getattr(cls, "__name__", repr(cls))
        if name in EXEMPT_VIEWS:
            continue
        if not (isinstance(cls, type) and issubclass(cls, ShopScopedMixin | ShopAPIView | ShopViewSet)):
            unscoped.append(f"{route} -> {name}")
    assert not unscoped, f"views of shop data must inherit platform_core.scoping: {unscoped}"


def test_the_scoped_base_refuses_a_connection_in_the_wrong_schema(alpha: Any, beta: Any) -> None:
    from django.test import RequestFactory

    from shop.storefront.views import Home

    request = RequestFactory().get("/")
    request.tenant = alpha  # type: ignore[attr-defined]
    use_tenant(beta)
    with pytest.raises(RuntimeError, match="connection is in schema"):
        Home.as_view()(request)


def _fill(route: str, pk: int) -> str:
    import re

    route = re.sub(r"\(\?P<pk>[^)]*\)", str(pk), route)  # regex routes (DRF routers)
    route = re.sub(r"<(?:\w+:)?pk>", str(pk), route)  # path() routes
    return "/" + route.replace("^", "").replace("$", "")


def test_another_shops_ids_give_404_on_every_pattern_with_an_id(alpha: Any, beta: Any) -> None:
    """Walk every URL pattern that takes an id: one shop's object is reachable there and a
    404 on the other shop (for its own logged-in user), for every method the view answers."""
    from tests.isolation_objects import owned_for

    alpha, beta = beta, alpha  # the owning shop is the pro one: room for several staff seats

    patterns = [r for r, _p in tenant_patterns() if "pk>" in r]
    assert patterns, "expected URL patterns with ids"
    unknown = [r for r in patterns if owned_for(r) is None]
    assert not unknown, f"add these patterns to tests/isolation_objects.py: {unknown}"
    checked = 0
    for route in patterns:
        owned = owned_for(route)
        assert owned is not None
        pk = owned.make(alpha)
        while owned.exists(beta, pk):  # ids are per schema: pick one beta does not have
            pk = owned.make(alpha)
        url = _fill(route, pk)
        for method in ("get", "post", "put", "patch", "delete"):
            own = getattr(owned.login(alpha), method)(url, content_type="application/json")
            if own.status_code == 405:
                continue
            assert own.status_code != 404, f"{method.upper()} {url} should reach alpha's own object"
            if method == "delete" and own.status_code < 300:
                pk = owned.make(alpha)  # it is gone now: the next method needs another
                url = _fill(route, pk)
            foreign = getattr(owned.login(beta), method)(url, content_type="application/json")
            assert foreign.status_code == 404, f"{method.upper()} {url} on beta answered {foreign.status_code}"
            checked += 1
    assert checked >= len(patterns)


def test_cache_entries_never_cross_shops(alpha: Any, beta: Any) -> None:
    with in_shop(alpha):
        cache.set("home-page", "alpha's page")
    with in_shop(beta):
        assert cache.get("home-page") is None
        cache.set("home-page", "beta's page")
    with in_shop(alpha):
        assert cache.get("home-page") == "alpha's page"
    assert cache.get("home-page") is None  # nor the platform


def test_real_redis_cache_is_keyed_per_shop(alpha: Any, beta: Any, redis_url: str) -> None:
    from django.core.cache.backends.redis import RedisCache

    redis_cache = RedisCache(redis_url, {"KEY_FUNCTION": "django_tenants.cache.make_key"})
    with in_shop(alpha):
        redis_cache.set("leak-probe", "alpha", timeout=30)
    with in_shop(beta):
        assert redis_cache.get("leak-probe") is None
    with in_shop(alpha):
        assert redis_cache.get("leak-probe") == "alpha"
        redis_cache.delete("leak-probe")


def test_media_paths_are_computed_per_call_from_the_current_shop(alpha: Any, beta: Any) -> None:
    storage = default_storage  # one object for the whole process
    with in_shop(alpha):
        name_a = storage.save("logo.txt", ContentFile(b"alpha"))
        path_a = storage.path(name_a)
        url_a = storage.url(name_a)
    with in_shop(beta):
        name_b = storage.save("logo.txt", ContentFile(b"beta"))
        path_b = storage.path(name_b)
    assert "/shop_alpha/" in path_a and "/shop_beta/" in path_b
    assert "/shop_alpha/" in url_a
    with open(path_a, "rb") as fh:
        assert fh.read() == b"alpha"
    with in_shop(alpha):
        storage.delete(name_a)
    with in_shop(beta):
        storage.delete(name_b)


def test_s3_location_is_computed_per_call(alpha: Any, beta: Any) -> None:
    storage = ShopS3Storage(bucket_name="media", location="tenants")
    with in_shop(alpha):
        assert storage.location == "tenants/shop_alpha"
    with in_shop(beta):
        assert storage.location == "tenants/shop_beta"


@shared_task(name="tests.report_schema")
def report_schema() -> str:
    return str(current_schema())


seen: list[str] = []


@shared_task(name="tests.record_schema")
def record_schema() -> None:
    seen.append(current_schema())


def test_tasks_run_in_the_shop_that_published_them(alpha: Any, beta: Any) -> None:
    with in_shop(alpha):
        assert report_schema.apply_async().get() == "shop_alpha"
    with in_shop(beta):
        assert report_schema.apply_async().get() == "shop_beta"
    assert current_schema() == "public"  # restored afterwards


def test_tasks_are_published_only_after_commit(alpha: Any, django_capture_on_commit_callbacks: Any) -> None:
    seen.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks, in_shop(alpha):
        publish_on_commit(record_schema)
        assert seen == []  # nothing yet: the transaction has not committed
    assert len(callbacks) == 1
    with in_shop(alpha):
        callbacks[0]()
    assert seen == ["shop_alpha"]


def test_task_messages_on_the_real_broker_carry_the_shop(alpha: Any, redis_url: str) -> None:
    from kombu import Connection

    from platform_core.celery import app

    queue = "isolation-probe"
    app.conf.task_always_eager = False
    try:
        with Connection(redis_url) as conn:
            conn.SimpleQueue(queue).clear()
            with in_shop(alpha):
                report_schema.apply_async(queue=queue, connection=conn)  # type: ignore[call-arg]
            message = conn.SimpleQueue(queue).get(timeout=5)
            headers = message.headers
            message.ack()
    finally:
        app.conf.task_always_eager = True
    assert headers["_schema_name"] == "shop_alpha"


def test_every_log_line_names_the_shop(alpha: Any) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    with in_shop(alpha):
        ShopContextFilter().filter(record)
    assert record.shop == "shop_alpha"  # type: ignore[attr-defined]
    public = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    ShopContextFilter().filter(public)
    assert public.shop == "public"  # type: ignore[attr-defined]


def test_request_logs_carry_the_shop(alpha: Any, caplog: pytest.LogCaptureFixture) -> None:
    handler_filter = ShopContextFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        owner_client(alpha).post("/console/staff/999999/")  # a 404 is logged by django.request
    caplog.handler.removeFilter(handler_filter)
    shops = {getattr(r, "shop", None) for r in caplog.records}
    assert "shop_alpha" in shops


@override_settings(LOGIN_RATE_LIMIT="2/m")
def test_rate_limits_are_per_shop(alpha: Any, beta: Any) -> None:
    def attempt(tenant: Any) -> int:
        return (
            shop_client(tenant, REMOTE_ADDR="203.0.113.5")
            .post(
                "/api/v1/console/token/",
                data=json.dumps({"email": "nobody@x.test", "password": "wrong-password"}),
                content_type="application/json",
            )
            .status_code
        )

    assert [attempt(alpha) for _ in range(3)] == [400, 400, 429]
    assert attempt(beta) == 400  # the same address still has its budget on another shop


def test_a_staff_member_added_in_one_shop_is_unknown_in_another(alpha: Any, beta: Any) -> None:
    with in_shop(alpha):
        staff_services.staff_add(alpha, email="ann@alpha.test", name="Ann", password=PASSWORD)
    assert login_client(alpha, "ann@alpha.test").get("/console/").status_code == 200
    with in_shop(beta):
        assert not staff_services.staff_list().filter(email="ann@alpha.test").exists()
