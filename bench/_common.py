"""Helpers shared by the benchmarks: a throwaway database, Django setup, statistics, tables.

Nothing here touches the project's own database: every benchmark creates a database of
its own on the server named by ``DATABASE_URL`` and drops it at the end."""

from __future__ import annotations

import math
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
# Benchmarks sign nothing that outlives them: a random key unless one is given (the settings
# refuse to start without one; subprocesses inherit it).
if not os.environ.get("DJANGO_SECRET_KEY"):
    os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)


def bench_database_url(name: str) -> str:
    """``DATABASE_URL`` (or the local default) with its database name replaced by ``name``."""
    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_SERVER)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin_connection(url: str):  # type: ignore[no-untyped-def]
    import psycopg2

    parts = urlsplit(url)
    conn = psycopg2.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")))
    conn.autocommit = True
    return conn


def create_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def bench_environ(database_url: str, settings_module: str = "platform_core.settings") -> dict[str, str]:
    """The environment a benchmark (and any subprocess it starts) runs Django in.

    No Redis (Celery tasks run eagerly, cache is local memory), an empty warm pool (so a
    signup never refills the pool inside a timing), quiet logs."""
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DATABASE_URL=database_url,
        SCHEMA_POOL_SIZE="0",
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


@contextmanager
def throwaway_django(db_name: str, settings_module: str = "platform_core.settings") -> Iterator[str]:
    """Create ``db_name``, point Django at it and set it up; drop the database at the end.

    Yields the database URL."""
    url = bench_database_url(db_name)
    create_database(url)
    try:
        env = bench_environ(url, settings_module)
        for key in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"):
            os.environ.pop(key, None)
        os.environ.update(env)
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        import django

        django.setup()
        yield url
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception as exc:  # noqa: BLE001 - the drop below matters more
            print(f"closing connections: {exc}", file=sys.stderr)
        drop_database(url)
        print(f"dropped database {db_name}")


def p95(values: Sequence[float]) -> float:
    """95th percentile, nearest rank (with few samples this is close to the maximum)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append("  ".join(_cell(c, w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(out)


def _cell(text: str, width: int) -> str:
    """Numbers (and ~numbers, 1.5x ratios) right-aligned, words left-aligned."""
    return text.rjust(width) if text[:1].isdigit() or text[:1] == "~" else text.ljust(width)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.started


def progress(message: str) -> None:
    print(message, flush=True)


def report_targets(checks: Sequence[tuple[str, bool]]) -> bool:
    """Print each target as met or MISSED; True when all are met."""
    print("\ntargets:")
    for label, ok in checks:
        print(f"  {'met    ' if ok else 'MISSED '} {label}")
    return all(ok for _label, ok in checks)


def load_note() -> str:
    """The machine's load average (other work moves the figures: read ratios)."""
    try:
        with open("/proc/loadavg") as handle:
            return "load average " + " ".join(handle.read().split()[:3])
    except OSError:
        return "load average unknown"
