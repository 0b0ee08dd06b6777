"""Per-process memos of rarely changing records, kept current across processes.

A request should not ask the database for what almost never changes: which shop a host
belongs to, that shop's status, tier and overrides, its settings row, which activities
it runs. This module keeps such records in the process's memory, grouped in *scopes*
("tenancy": every host's shop record; "shop:<schema>": one shop's configuration).

Invalidation. Each scope has a *generation* in the shared cache (the ``platform`` cache
alias: Redis in production, local memory in the demo, which is one process). A record is
kept with the generation it was loaded under; a process reads a scope's generation at
most every ``LOCAL_CACHE_CHECK_SECONDS`` (0.25 s) and drops the scope's records when it
moved. A writer calls ``changed(scope)`` (model signals do it for the models that feed a
scope): the scope is dropped in its own process at once, and once the transaction
commits the shared generation is set to a new random value (equality is all readers
compare, so a Redis that lost its keys can never bring an old generation back), and
dropped again locally. So a change is seen by every process within the check interval
after its commit (plus one Redis round trip).

Inside a transaction that changed a scope, records of that scope are read from the
database and not kept (they may be rolled back).

When the shared cache does not answer (Redis down or frozen: the ``platform`` alias has
short socket timeouts), the memos are bypassed: every read goes to the database, as if
nothing were cached, and the shared cache is tried again after
``LOCAL_CACHE_RETRY_SECONDS``; when it answers again, every scope starts afresh (changes
made meanwhile were not announced). A writer whose announcement failed retries it at the
next check. Whatever happens, no record is kept longer than ``LOCAL_CACHE_MAX_AGE``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

log = logging.getLogger(__name__)
T = TypeVar("T")
ALIAS = "platform"
_PREFIX = "localcache:gen:"
_MISSING = object()


class _Unavailable(Exception):
    """The shared cache did not answer."""


class LocalCache:
    """The process's memos (one instance per process: ``memo``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # scope -> [generation, checked at (monotonic), {key: (value, loaded at)}]
        self._scopes: dict[str, list[Any]] = {}
        self._down_until = 0.0  # the shared cache failed: bypass until then
        self._was_down = False
        self._unannounced: set[str] = set()  # scopes whose new generation could not be written
        self._pending = threading.local()  # scopes changed in this thread's open transaction

    # --- settings (read each time: tests override them) ---------------------------------
    @staticmethod
    def _check_seconds() -> float:
        return float(getattr(settings, "LOCAL_CACHE_CHECK_SECONDS", 0.25))

    @staticmethod
    def _max_age() -> float:
        return float(getattr(settings, "LOCAL_CACHE_MAX_AGE", 60.0))

    @staticmethod
    def _retry_seconds() -> float:
        return float(getattr(settings, "LOCAL_CACHE_RETRY_SECONDS", 1.0))

    # --- the shared generation ----------------------------------------------------------
    def _shared(self) -> Any:
        return caches[ALIAS]

    def _read_generation(self, scope: str) -> Any:
        """The scope's shared generation (made if missing); _Unavailable when the shared
        cache does not answer."""
        try:
            shared = self._shared()
            found = shared.get(_PREFIX + scope, _MISSING)
            if found is _MISSING:
                shared.add(_PREFIX + scope, secrets.randbits(62), timeout=None)
                found = shared.get(_PREFIX + scope, _MISSING)
        except Exception as exc:  # noqa: BLE001 - any cache failure means: ask the database
            raise _Unavailable(str(exc)) from exc
        if found is _MISSING:  # a cache that stores nothing (or a breaker answering misses)
            raise _Unavailable("the shared cache keeps no generation")
        return found

    def _announce(self, scope: str) -> Any:
        generation = secrets.randbits(62)
        try:
            self._shared().set(_PREFIX + scope, generation, timeout=None)
        except Exception:  # noqa: BLE001 - retried at the next check; bounded by the max age
            log.warning("could not announce a change of %s to other processes; retrying", scope)
            with self._lock:
                self._unannounced.add(scope)
                self._down_until = time.monotonic() + self._retry_seconds()
            return None
        return generation

    def _available(self, now: float) -> bool:
        """False while the shared cache is considered down. When it comes back, every scope
        starts afresh and unannounced changes are announced."""
        if now < self._down_until:
            return False
        if self._was_down or self._unannounced:
            with self._lock:
                retry, self._unannounced = self._unannounced, set()
                was_down, self._was_down = self._was_down, False
            for scope in retry:
                if self._announce(scope) is None:
                    return False
            if was_down:
                with self._lock:
                    self._scopes.clear()
        return True

    def _mark_down(self, now: float, why: str) -> None:
        with self._lock:
            if not self._was_down:
                log.warning("shared cache unavailable (%s): records are read from the database", why)
            self._was_down = True
            self._down_until = now + self._retry_seconds()

    # --- reads --------------------------------------------------------------------------
    def get(
        self,
        scope: str,
        key: Any,
        load: Callable[[], T],
        keep: Callable[[T], bool] | None = None,
        also: Callable[[T], dict[Any, Any]] | None = None,
    ) -> T:
        """The record ``key`` of ``scope``: from memory when current, else ``load()``
        (which must read the database and return a value that is never mutated), kept
        unless ``keep(value)`` says not to (e.g. an unknown host: a flood of made-up
        hosts must not fill the memory, and a new host then needs no announcement).
        ``also(value)``: more keys of the scope the same load answers (kept alongside)."""
        now = time.monotonic()
        if self._in_changed_transaction(scope) or not self._available(now):
            return load()
        entry = self._scopes.get(scope)
        if entry is None or now - entry[1] >= self._check_seconds():
            try:
                generation = self._read_generation(scope)
            except _Unavailable as exc:
                self._mark_down(now, str(exc))
                return load()
            with self._lock:
                entry = self._scopes.get(scope)
                if entry is None or entry[0] != generation:
                    entry = [generation, now, {}]
                    self._scopes[scope] = entry
                else:
                    entry[1] = now
        records = entry[2]
        found = records.get(key, _MISSING)
        if found is not _MISSING and now - found[1] < self._max_age():
            return found[0]  # type: ignore[no-any-return]
        value = load()
        if self._scopes.get(scope) is entry and (keep is None or keep(value)):
            records[key] = (value, now)
            for other, value_of_other in (also(value) if also else {}).items():
                records[other] = (value_of_other, now)
        return value

    # --- writes -------------------------------------------------------------------------
    def changed(self, scope: str) -> None:
        """``scope``'s records changed (call inside the writing transaction, or after it)."""
        self._drop(scope)
        if connection.in_atomic_block:
            pending = self._pending_set()
            pending.add(scope)
        transaction.on_commit(lambda: self._committed(scope))

    def _committed(self, scope: str) -> None:
        self._pending_set().discard(scope)
        self._drop(scope)
        generation = self._announce(scope)
        if generation is not None:
            with self._lock:
                self._scopes[scope] = [generation, time.monotonic(), {}]

    def _drop(self, scope: str) -> None:
        with self._lock:
            self._scopes.pop(scope, None)

    def _pending_set(self) -> set[str]:
        found: set[str] | None = getattr(self._pending, "scopes", None)
        if found is None:
            found = self._pending.scopes = set()
        return found

    def _in_changed_transaction(self, scope: str) -> bool:
        pending = self._pending_set()
        if not pending:
            return False
        if not connection.in_atomic_block:
            pending.clear()  # that transaction ended (rolled back: no commit hook ran)
            return False
        return scope in pending

    def clear(self) -> None:
        """Forget everything in this process (tests: after a rolled-back test)."""
        with self._lock:
            self._scopes.clear()
            self._unannounced.clear()
            self._down_until = 0.0
            self._was_down = False
        self._pending_set().clear()


memo = LocalCache()


def changed(scope: str) -> None:
    memo.changed(scope)


def invalidate_on_change(
    model: type[Model] | str, scope: str | Callable[[Any], str | None], *, on_create: bool = True
) -> None:
    """Announce a change of ``scope`` (a name, or a function of the row) whenever a
    ``model`` row is saved (created too, unless ``on_create`` is false) or deleted through
    the ORM. ``QuerySet.update()`` and raw SQL send no signal: call ``changed`` there."""

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        if kwargs.get("raw") or (kwargs.get("created") and not on_create):
            return
        name = scope(instance) if callable(scope) else scope
        if name:
            changed(name)

    uid = f"localcache:{model}:{scope if isinstance(scope, str) else id(scope)}"
    post_save.connect(receiver, sender=model, weak=False, dispatch_uid=uid + ":save")
    post_delete.connect(receiver, sender=model, weak=False, dispatch_uid=uid + ":delete")


def shop_scope() -> str:
    """The configuration scope of the shop the connection is in."""
    return "shop:" + str(getattr(connection, "schema_name", None) or "public")


def of_current_shop(_row: Any) -> str:
    """``invalidate_on_change(Model, of_current_shop)``: a row of the current shop's schema."""
    return shop_scope()
