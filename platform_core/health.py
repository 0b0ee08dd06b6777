"""``/healthz`` (the process answers) and ``/readyz`` (can this process serve?).

Answered before tenant routing, on any host: probes hit pod addresses, not shop hosts.
Readiness depends on the database only: the cache is reported (``"down …"`` while Redis
is stopped or frozen, answered at once by the cache's breaker) but never takes a pod out
of service, since every page is served from the database without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse


def _cache_check() -> str:
    ping = getattr(cache, "ping", None)
    if ping is not None:  # the resilient Redis cache
        _ok, detail = ping()
        return str(detail)
    try:
        probe = f"readyz:{uuid.uuid4().hex}"
        cache.set(probe, "1", timeout=5)
        ok = cache.get(probe) == "1"
        cache.delete(probe)
        return "ok" if ok else "error: value not returned"
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"


def readiness() -> tuple[bool, dict[str, str]]:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {exc.__class__.__name__}"
    checks["cache"] = _cache_check()
    return checks["database"] == "ok", checks


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            ok, checks = readiness()
            return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
        return self.get_response(request)
