"""The storefront request while thousands of shop schemas exist and many shops are visited.

    .venv/bin/python bench/many_shops.py --db-name fenxiao_bench_10k [--visited 2000] [--clients 32]
        [--duration 20] [--conn-max-age 60 0] [--max-requests 0]

Needs a database full of shops (bench/fill_shops.py; kept, never dropped here). Serves the
project with gunicorn as the Helm chart does (3 sync workers) and asks for the storefront
product list (``GET /api/v1/catalogue/products/?sort=sales``), each request on the host of
the next of ``--visited`` shops (so every worker and every PostgreSQL backend touches every
one of those schemas), beside the same request on one shop only (the peer: the same stack
without the spread). For each ``DB_CONN_MAX_AGE`` given it reports requests/s, median and
p95, and the memory it took: the gunicorn workers' resident memory, and the private memory
of the PostgreSQL backends serving them (where the per-connection catalog caches live),
before and after. Also prints PostgreSQL's catalog size. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import storefront as sf  # noqa: E402
from bench._common import Stopwatch, bench_environ, load_note, median, p95, progress, table, throwaway_django  # noqa: E402

PATH = "/api/v1/catalogue/products/?sort=sales"


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def backend_pids(db_name: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND application_name <> 'psql' AND backend_type = 'client backend'",
            [db_name],
        )
        return [int(r[0]) for r in cursor.fetchall()]


def memory(master: int, db_name: str) -> tuple[float, float, int]:
    """(gunicorn workers' RSS MB in all, PostgreSQL backends' private (anonymous) MB in all, backends)."""
    workers = sum(rss_kb(p) for p in worker_pids(master)) / 1024
    backends = backend_pids(db_name)
    private = sum(rss_kb(p, "RssAnon") for p in backends) / 1024
    return workers, private, len(backends)


async def _client(port: int, requests: list[bytes], offset: int, start: float, stop: float, out: list[float]) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = offset
    bad = 0
    while time.perf_counter() < stop:
        began = time.perf_counter()
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(requests[i % len(requests)])
            status, closes = await sf._read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            bad += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        i += 1
        if status == 200 and began >= start:
            out.append(time.perf_counter() - began)
        elif status != 200:
            bad += 1
        if closes:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    if bad:
        progress(f"    a client saw {bad} failed requests")


def one_pass(port: int, hosts: list[str], clients: int) -> float:
    """Every host once (the clients share the list); returns the seconds it took."""
    watch = Stopwatch()
    chunks = [hosts[c::clients] for c in range(clients)]

    async def visit(chunk: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for host in chunk:
                writer.write(f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode())
                _status, closes = await sf._read_response(reader)
                if closes:
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    async def run() -> None:
        await asyncio.gather(*(visit(chunk) for chunk in chunks if chunk))

    asyncio.run(run())
    return watch()


def load(port: int, hosts: list[str], clients: int, seconds: float) -> list[float]:
    requests = [
        f"GET {PATH} HTTP/1.1\r\nHost: {h}\r\nAccept: application/json\r\nUser-Agent: fenxiao-bench\r\n\r\n".encode()
        for h in hosts
    ]
    out: list[float] = []

    async def run() -> None:
        start = time.perf_counter()
        step = max(1, len(requests) // clients)
        await asyncio.gather(*(_client(port, requests, c * step, start, start + seconds, out) for c in range(clients)))

    asyncio.run(run())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-name", default="fenxiao_bench_10k")
    parser.add_argument("--visited", type=int, default=2000, help="shops the requests go round (default 2000)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per series (default 20)")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--conn-max-age", type=int, nargs="+", default=[60, 0], help="DB_CONN_MAX_AGE values to run")
    parser.add_argument("--max-requests", type=int, default=0, help="gunicorn --max-requests (0: no recycling)")
    parser.add_argument("--passes", type=int, default=1, help="warm-up passes over every visited shop (default 1)")
    parser.add_argument("--no-peer", action="store_true", help="skip the one-shop series")
    args = parser.parse_args()

    total = Stopwatch()
    with (
        throwaway_django(args.db_name, settings_module=sf.SETTINGS, keep=True) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        from django.db import connection, connections

        from tenants.models import Tenant
        from tenants.services import shop_host

        shops = list(Tenant.objects.exclude(schema_name="public").order_by("slug")[: args.visited])
        hosts = [shop_host(t) for t in shops]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'shop\\_%%'")
            (schemas,) = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM pg_class")
            (relations,) = cursor.fetchone()
            cursor.execute(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog'"
            )
            (catalog,) = cursor.fetchone()
            cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            (size,) = cursor.fetchone()
        progress(
            f"{schemas} shop schemas; {relations} relations in pg_class; catalog {catalog}; database {size}; "
            f"visiting {len(hosts)} shops"
        )
        payload = Path(tmp) / "bare.json"
        payload.write_text("{}")
        connections.close_all()
        rows = []
        for max_age in args.conn_max_age:
            series = [(f"{len(hosts)} shops", hosts)] + ([] if args.no_peer else [("one shop", hosts[:1])])
            for label, spread in series:
                port = sf.free_port()
                log = Path(tmp) / f"gunicorn-{max_age}.log"
                env_patch = {"DB_CONN_MAX_AGE": str(max_age)}
                server = start_server(url, port, args.workers, args.max_requests, payload, log, env_patch)
                try:
                    sf.wait_ready(server, port, log)
                    status, body = sf.fetch(port, spread[0], PATH)
                    if status != 200:
                        raise RuntimeError(f"HTTP {status} {body[:300]!r}")
                    before = memory(server.pid, args.db_name)
                    # warm-up, unmeasured: every visited shop once (so each is "recently active")
                    took = one_pass(port, spread * 100 if len(spread) == 1 else spread * args.passes, args.clients)
                    progress(f"    warm-up: {len(spread)} shop(s) visited in {took:.0f}s")
                    latencies = load(port, spread, args.clients, args.duration)
                    after = memory(server.pid, args.db_name)
                finally:
                    sf.stop_server(server)
                rows.append(
                    [
                        f"{max_age}",
                        label,
                        f"{len(latencies) / args.duration:.0f}",
                        f"{median(latencies) * 1000:.1f}" if latencies else "-",
                        f"{p95(latencies) * 1000:.1f}" if latencies else "-",
                        f"{before[0]:.0f} -> {after[0]:.0f}",
                        f"{before[1]:.0f} -> {after[1]:.0f} ({after[2]})",
                    ]
                )
                progress("  " + "  ".join(rows[-1]))
        print()
        print(
            table(
                [
                    "DB_CONN_MAX_AGE",
                    "requests over",
                    "req/s",
                    "median ms",
                    "p95 ms",
                    f"{args.workers} workers RSS MB",
                    "PG backends private MB (n)",
                ],
                rows,
            )
        )
        print(
            f"\n{schemas} shop schemas, {relations} relations in pg_class, catalog {catalog}, database {size}; "
            f"{args.clients} clients, {args.workers} sync workers, --max-requests {args.max_requests}; "
            f"{load_note()}"
        )
        print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")


def start_server(
    database_url: str, port: int, workers: int, max_requests: int, payload: Path, log: Path, extra: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = bench_environ(database_url, sf.SETTINGS)
    env.update(extra)
    env["BENCH_BARE_PAYLOAD"] = str(payload)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "platform_core.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--timeout=60",
        "--keep-alive=5",
        f"--max-requests={max_requests}",
        "--log-level=warning",
        f"--error-logfile={log}",
    ]
    return subprocess.Popen(command, cwd=sf.REPO, env=env, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
