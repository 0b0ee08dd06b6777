"""Fixed-window rate limits in the cache, per client address and per shop.

Cache keys pass through django-tenants' ``make_key``, so the same client hitting two shops
has two independent budgets, and the platform host has its own. While the cache is down the
limits are counted per process (see ``_local``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from platform_core.cache import CacheUnavailable

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _sep, period = rate.partition("/")
    return int(count), _PERIODS[period]


def client_address(request: HttpRequest) -> str:
    """The caller's address, trusting exactly NUM_PROXIES entries of X-Forwarded-For."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = settings.NUM_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if len(forwarded) >= proxies:
        return forwarded[-proxies]
    return remote


# When the shared cache is down, limits are counted in this process's memory instead: they
# still hold (each process allows up to the limit, so the fleet at most limit × processes)
# and logins keep working. Failing open would leave password guessing unlimited for the
# outage; failing closed would lock every merchant and shopper out because of a cache.
_local = LocMemCache("fenxiao-ratelimit", {"KEY_FUNCTION": "django_tenants.cache.make_key", "MAX_ENTRIES": 50_000})


def _count(store: Any, key: str, period: int) -> int:
    store.add(key, 0, timeout=period + 1)
    try:
        return int(store.incr(key))
    except ValueError:  # evicted between add and incr
        store.set(key, 1, timeout=period + 1)
        return 1


def hit(scope: str, ident: str, rate: str) -> int | None:
    """Count one hit; return seconds to wait if over the limit, else None."""
    limit, period = parse_rate(rate)
    window = int(time.time() // period)
    key = f"rl:{scope}:{ident}:{window}"
    try:
        count = _count(cache, key, period)
    except CacheUnavailable:
        count = _count(_local, key, period)
    if count > limit:
        return period - int(time.time()) % period
    return None


def too_many(request: HttpRequest, retry_after: int) -> HttpResponse:
    response = JsonResponse(
        {"code": "rate_limited", "detail": _("Too many attempts. Try again in %(s)s seconds.") % {"s": retry_after}},
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def rate_limit(scope: str, rate_setting: str, methods: tuple[str, ...] = ("POST",)) -> Callable[..., Any]:
    """Decorate a view (function or ``dispatch``) with a per-address limit from a setting."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> HttpResponse:
            request = next(a for a in args if isinstance(a, HttpRequest) or hasattr(a, "META"))
            if request.method in methods:
                wait = hit(scope, client_address(request), getattr(settings, rate_setting))
                if wait is not None:
                    return too_many(request, wait)
            return view(*args, **kwargs)

        return wrapped

    return decorator
