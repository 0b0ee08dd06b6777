"""A Redis cache that fails soft: Redis is a cache, never the only copy of anything, so when
it is stopped, frozen or unreachable every read is a miss (the caller goes to the
database) and every write is skipped, instead of an error or a stalled worker.

* Short socket timeouts (``CACHE_SOCKET_TIMEOUT``, 0.25 s): a frozen Redis (SIGSTOP, a
  dead route) costs one short wait, not a request's lifetime.
* A circuit breaker per process (``CACHE_BREAKER_SECONDS``, 5 s): after a failure Redis is
  not asked again until the breaker's time is up; then one call tries it again.
* Deletes that failed (invalidations: a catalogue or theme change while Redis was away)
  are kept in the process and repeated as soon as Redis answers again, so an entry from
  before the change is not served after the outage. Cache fills that failed are dropped.
* ``incr`` has no sensible soft answer: it raises ``CacheUnavailable`` and its caller
  decides (the rate limiter counts in process memory meanwhile: ``platform_core.ratelimit``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

FAILURES = (RedisError, OSError)
MAX_REMEMBERED_DELETES = 10_000

_lock = threading.Lock()
_down_until: dict[str, float] = {}  # per Redis location, shared by the process's threads
_failed_deletes: dict[str, set[str]] = {}


class CacheUnavailable(Exception):  # noqa: N818 - what callers catch
    """The cache cannot answer an operation that has no soft answer (``incr``)."""


class ResilientRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._location = str(server)

    # --- the breaker ------------------------------------------------------------------
    def available(self) -> bool:
        return time.monotonic() >= _down_until.get(self._location, 0.0)

    def _failed(self, exc: BaseException) -> None:
        with _lock:
            was_down = self._location in _down_until
            _down_until[self._location] = time.monotonic() + settings.CACHE_BREAKER_SECONDS
        if not was_down:
            log.warning(
                "cache unavailable (%s: %s): serving from the database, trying again every %ss",
                exc.__class__.__name__,
                exc,
                settings.CACHE_BREAKER_SECONDS,
            )

    def _succeeded(self) -> None:
        if self._location not in _down_until:
            return
        with _lock:
            was_down = _down_until.pop(self._location, None) is not None
        if was_down:
            log.warning("cache is back")

    def _replay_deletes(self) -> None:
        """Before anything else once Redis answers again: the deletes it missed."""
        with _lock:
            pending = _failed_deletes.pop(self._location, set())
        if pending:
            try:
                self._cache.delete_many(list(pending))
            except FAILURES:
                self._remember_deletes(pending)
                raise

    def _remember_deletes(self, keys: Any) -> None:
        with _lock:
            pending = _failed_deletes.setdefault(self._location, set())
            if len(pending) < MAX_REMEMBERED_DELETES:
                pending.update(keys)

    def _call(self, default: Any, op: Any, *args: Any) -> Any:
        if not self.available():
            return default
        try:
            if _failed_deletes.get(self._location):
                self._replay_deletes()
            result = op(*args)
        except FAILURES as exc:
            self._failed(exc)
            return default
        self._succeeded()
        return result

    def ping(self) -> tuple[bool, str]:
        """For readiness: (reachable, detail), answered at once while the breaker is open."""
        if not self.available():
            return False, "down (reads served from the database)"
        try:
            self._cache.get_client().ping()
            if _failed_deletes.get(self._location):
                self._replay_deletes()
        except FAILURES as exc:
            self._failed(exc)
            return False, f"down: {exc.__class__.__name__} (reads served from the database)"
        self._succeeded()
        return True, "ok"

    # --- reads: a miss --------------------------------------------------------------------
    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return self._call(default, self._cache.get, key, default)

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        found = self._call({}, self._cache.get_many, key_map.keys())
        return {key_map[k]: v for k, v in found.items()}

    def has_key(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(self._call(False, self._cache.has_key, key))

    # --- writes: skipped --------------------------------------------------------------------
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(self._call(False, self._cache.add, key, value, self.get_backend_timeout(timeout)))

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        self._call(None, self._cache.set, key, value, self.get_backend_timeout(timeout))

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        if not data:
            return []
        safe = {self.make_and_validate_key(key, version=version): value for key, value in data.items()}
        self._call(None, self._cache.set_many, safe, self.get_backend_timeout(timeout))
        return []

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(self._call(False, self._cache.touch, key, self.get_backend_timeout(timeout)))

    def delete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        missing = object()
        result = self._call(missing, self._cache.delete, key)
        if result is missing:
            self._remember_deletes([key])
            return False
        return bool(result)

    def delete_many(self, keys: Any, version: Any = None) -> None:
        if not keys:
            return
        safe = [self.make_and_validate_key(key, version=version) for key in keys]
        missing = object()
        if self._call(missing, self._cache.delete_many, safe) is missing:
            self._remember_deletes(safe)

    def clear(self) -> None:
        self._call(None, self._cache.clear)

    # --- counters: the caller decides ---------------------------------------------------------
    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        made = self.make_and_validate_key(key, version=version)
        if not self.available():
            raise CacheUnavailable("the cache is down")
        try:
            if _failed_deletes.get(self._location):
                self._replay_deletes()
            result = self._cache.incr(made, delta)
        except FAILURES as exc:
            self._failed(exc)
            raise CacheUnavailable(str(exc)) from exc
        self._succeeded()
        return int(result)


def reset_breaker() -> None:
    """Forget failures (tests)."""
    with _lock:
        _down_until.clear()
        _failed_deletes.clear()
