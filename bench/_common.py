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


def database_exists(url: str) -> bool:
    name = urlsplit(url).path.lstrip("/")
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cursor.fetchone() is not None
    finally:
        conn.close()


@contextmanager
def throwaway_django(
    db_name: str, settings_module: str = "platform_core.settings", keep: bool = False
) -> Iterator[str]:
    """Create ``db_name``, point Django at it and set it up; drop the database at the end.

    With ``keep`` an existing database is reused as it is (its shops stay: for the
    10,000-shop runs, filled once by bench/fill_shops.py) and nothing is dropped.
    Yields the database URL."""
    url = bench_database_url(db_name)
    if not (keep and database_exists(url)):
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
        if keep:
            print(f"kept database {db_name} (drop it with: DROP DATABASE {db_name})")
        else:
            drop_database(url)
            print(f"dropped database {db_name}")


def fill_shops(prefix: str, target: int, jobs: int = 2, nice: int = 0) -> int:
    """Create shops ``<prefix>00000``… by ``shop_signup()`` (DDL replay, cheap MD5 password)
    until ``target`` shops with that prefix exist, over ``jobs`` threads, each with its own
    connection. ``nice`` > 0 lowers the CPU priority of their PostgreSQL backends (when the
    server runs on this machine and we may renice it). Resumable. Returns shops created."""
    import subprocess
    import threading

    from django.db import connection, connections
    from django.test import override_settings

    from tenants.models import Tenant
    from tenants.services import shop_signup

    present = set(Tenant.objects.filter(slug__startswith=prefix).values_list("slug", flat=True))
    todo = [f"{prefix}{i:05d}" for i in range(target) if f"{prefix}{i:05d}" not in present]
    if not todo:
        return 0
    progress(f"creating {len(todo)} shops ({len(present)} there) over {jobs} connection(s) ...")
    lock, watch, made = threading.Lock(), Stopwatch(), [0]

    def work() -> None:
        try:
            if nice > 0:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pid = cursor.fetchone()[0]
                subprocess.run(["renice", "-n", str(nice), "-p", str(pid)], capture_output=True, check=False)
            while True:
                with lock:
                    if not todo:
                        return
                    slug = todo.pop(0)
                shop_signup(
                    name=f"Shop {slug}", slug=slug, email=f"owner@{slug}.bench.test", password="x", tier="standard"
                )
                with lock:
                    made[0] += 1
                    if made[0] % 250 == 0:
                        progress(f"  ... {made[0]} ({watch():.0f}s)")
        finally:
            connections.close_all()

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        threads = [threading.Thread(target=work) for _ in range(max(1, jobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    progress(f"{made[0]} shops in {watch():.1f}s")
    return made[0]


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
