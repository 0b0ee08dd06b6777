"""Storefront product list under load: 32 concurrent clients against a bare Django JSON view.

    .venv/bin/python bench/storefront.py [--clients 32] [--warmup 10] [--duration 20] [--rounds 4]

Runs in a throwaway database (``fenxiao_bench_storefront`` on the server of
``DATABASE_URL``, default postgres://postgres@127.0.0.1:5432), dropped at the end. One
shop with ``--products`` products on sale is served by gunicorn on 127.0.0.1 (an ephemeral
port); a closed-loop client (asyncio, one connection per client) asks for
``GET /api/v1/catalogue/products/?sort=sales`` on the shop's host, and for the peer, a
bare Django JSON view on the same host, server and middleware (bench/urls_storefront.py),
in alternating rounds. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import json
import pstats
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REPO, Stopwatch, bench_environ, median, p95, progress, report_targets, table, throwaway_django  # noqa: E402

SETTINGS = "bench.settings_storefront"
OURS_PATH = "/api/v1/catalogue/products/?sort=sales"
BARE_PATH = "/bench/bare/"
SLUG = "benchshop"
PASSWORD = "bench-Password-4711"
TARGET_RATIO = 0.8  # DESIGN.md, "Performance targets"
TARGET_P95_MS = 30.0
COLOURS = ["红", "蓝", "黑", "白"]
SIZES = ["S", "M", "L", "XL"]


@dataclass
class Phase:
    """What one view got in one slice of time."""

    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, requests completed in the window
    bad: Counter[str] = field(default_factory=Counter)  # non-200 statuses and connection errors
    client_cpu: float = 0.0  # CPU seconds the load generator used


@dataclass
class Series:
    name: str
    path: str
    phases: list[Phase] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [x for p in self.phases for x in p.latencies]

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def round_rps(self) -> list[float]:
        return [len(p.latencies) / p.seconds for p in self.phases]

    @property
    def bad(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for p in self.phases:
            total.update(p.bad)
        return total


# --- the shop -------------------------------------------------------------------------
def make_shop(products: int, skus: int) -> tuple[str, str]:
    """One shop (signup), a few categories, ``products`` products on sale with ``skus``
    SKUs each (colour x size) and sales counts spread out. Returns (host, schema)."""
    from django_tenants.utils import schema_context

    from shop.catalogue import services
    from shop.catalogue.models import Product
    from tenants.services import shop_host, shop_signup

    tenant = shop_signup(
        name="Bench storefront", slug=SLUG, email=f"owner@{SLUG}.bench.test", password=PASSWORD, tier="standard"
    ).tenant
    rng = random.Random(4711)
    colours = COLOURS[: max(1, min(len(COLOURS), (skus + len(SIZES) - 1) // len(SIZES)))]
    sizes = SIZES[: max(1, min(len(SIZES), skus // len(colours)))]
    with schema_context(tenant.schema_name):
        categories = [services.category_save(name=f"分类 {i + 1}") for i in range(5)]
        made = []
        for i in range(products):
            base = rng.randrange(19_00, 499_00, 100)
            rows = [
                {"spec": {"颜色": c, "尺码": s}, "price": base + 100 * j, "stock": rng.randrange(0, 500)}
                for j, (c, s) in enumerate((c, s) for c in colours for s in sizes)
            ]
            made.append(
                services.product_save(
                    tenant,
                    {
                        "name": f"纯棉短袖T恤 {i + 1:03d} 夏季新款",
                        "subtitle": "透气舒适 · 多色可选",
                        "description": "100% 棉。" * 20,
                        "category": categories[i % len(categories)].pk,
                        "specs": [{"name": "颜色", "values": colours}, {"name": "尺码", "values": sizes}],
                        "skus": rows,
                    },
                )
            )
        services.product_set_status(made, Product.Status.ON_SALE)
        for product in made:
            Product.objects.filter(pk=product.pk).update(sales_count=rng.randrange(0, 10_000))
    return shop_host(tenant), tenant.schema_name


# --- the server -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    database_url: str, port: int, workers: int, threads: int, payload: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = bench_environ(database_url, SETTINGS)
    env["BENCH_BARE_PAYLOAD"] = str(payload)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "platform_core.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--timeout=30",
        "--keep-alive=5",
        "--max-requests=0",
        "--log-level=warning",
        f"--error-logfile={log}",
    ]
    return subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()  # gunicorn: graceful shutdown of the master and its workers
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def fetch(port: int, host: str, path: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, "Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(server: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            if fetch(port, "127.0.0.1", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise RuntimeError(f"gunicorn did not come up on port {port}:\n{tail}")


# --- the load generator -----------------------------------------------------------------
async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; return (status, the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    closes = headers.get("connection") == "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        closes = True
    return status, closes


async def _client(port: int, request: bytes, start: float, stop: float, phase: Phase) -> None:
    """One closed-loop client: a request, wait for the whole answer, the next request.
    Keeps its connection while the server does (a reconnect is part of the latency)."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while True:
        began = time.perf_counter()
        if began >= stop:
            break
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status, closes = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            phase.bad[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        ended = time.perf_counter()
        if start <= began and ended <= stop:
            if status == 200:
                phase.latencies.append(ended - began)
            else:
                phase.bad[f"HTTP {status}"] += 1
        if closes:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _load(port: int, request: bytes, clients: int, seconds: float) -> Phase:
    phase = Phase(seconds)
    cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, request, start, start + seconds, phase) for _ in range(clients)))
    phase.client_cpu = time.process_time() - cpu
    return phase


def load(port: int, host: str, path: str, clients: int, seconds: float) -> Phase:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nUser-Agent: fenxiao-bench\r\n\r\n"
    ).encode("ascii")
    return asyncio.run(_load(port, request, clients, seconds))


# --- a look inside one request (in this process, no server) ---------------------------------
def _group(filename: str, function: str) -> str:
    if filename == "~":
        if "psycopg2" in function:
            return "psycopg2 C calls (query round trips, row decoding)"
        return "other built-ins (C code: json encoding, str, dict, ...)"
    if "site-packages/" in filename:
        parts = filename.split("site-packages/", 1)[1].split("/")
        if parts[0] in ("django", "rest_framework", "django_tenants") and len(parts) > 2:
            return "/".join(parts[:2])
        if parts[0] in ("django", "rest_framework", "django_tenants"):
            return "/".join(parts[:2]).removesuffix(".py")
        return parts[0].removesuffix(".py")
    if filename.startswith(str(REPO)):
        return "project: " + str(Path(filename).relative_to(REPO))
    return "stdlib: " + Path(filename).name


def profile(host: str, requests: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=host, HTTP_ACCEPT="application/json")
    for _ in range(20):
        client.get(OURS_PATH)
        client.get(BARE_PATH)
    print(f"\n-- a look inside one request (in this process through Django's test client, no server, host {host})")
    for name, path in (("ours", OURS_PATH), ("bare view", BARE_PATH)):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        print(f"{name}: HTTP {response.status_code}, {len(response.content)} bytes, {len(captured)} queries")
        for query in captured.captured_queries:
            print(f"    {query['time']:>6}s  {' '.join(query['sql'].split())[:150]}")

    sql = [0.0]

    def timed(execute, sql_text, params, many, context):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            sql[0] += time.perf_counter() - began

    rows = []
    for name, path in (("ours", OURS_PATH), ("bare view", BARE_PATH)):
        sql[0] = 0.0
        times = []
        with connection.execute_wrapper(timed):
            for _ in range(requests):
                began = time.perf_counter()
                client.get(path)
                times.append(time.perf_counter() - began)
        rows.append(
            [
                name,
                f"{median(times) * 1000:.2f}",
                f"{p95(times) * 1000:.2f}",
                f"{sql[0] / sum(times) * 100:.0f}%",
                f"{1 / median(times):.0f}",
            ]
        )
    print(f"\nsequential, {requests} requests each (one thread, no network):")
    print(table(["view", "median ms", "p95 ms", "in SQL (execute)", "req/s, 1 core"], rows))

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(OURS_PATH)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    groups: Counter[str] = Counter()
    for (filename, _line, function), entry in raw.items():
        groups[_group(filename, function)] += entry[2]
    print(f"\nwhere the product list's time goes (cProfile, own time by package, {requests} requests):")
    print(
        table(
            ["code", "own time %"],
            [[name, f"{seconds / total * 100:.1f}"] for name, seconds in groups.most_common(14)],
        )
    )
    top = sorted(raw.items(), key=lambda item: item[1][3], reverse=True)
    interesting = [
        (key, entry)
        for key, entry in top
        if (str(REPO) in key[0] or "rest_framework/" in key[0] or "django/db/models" in key[0])
        and key[2] not in ("__call__", "view", "dispatch", "inner", "wrapper")
    ][:14]
    print("\nlargest cumulative times (project, DRF and ORM functions below the middleware), per request:")
    print(
        table(
            ["function", "calls/req", "cum ms/req", "cum %"],
            [
                [
                    f"{_short(filename)}:{line}({function})",
                    f"{entry[1] / requests:.1f}",
                    f"{entry[3] / requests * 1000:.2f}",
                    f"{entry[3] / total * 100:.0f}",
                ]
                for (filename, line, function), entry in interesting
            ],
        )
    )


def _short(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if filename.startswith(str(REPO)):
        return str(Path(filename).relative_to(REPO))
    return filename


# --- the run ------------------------------------------------------------------------------
def report(series: list[Series], clients: int, workers: int, threads: int) -> bool:
    ours, bare = series
    rows = []
    for s in series:
        rounds = s.round_rps()
        cpu = sum(p.client_cpu for p in s.phases) / s.seconds
        rows.append(
            [
                s.name,
                str(len(s.latencies)),
                f"{s.rps:.0f}",
                f"{min(rounds):.0f}-{max(rounds):.0f}",
                f"{median(s.latencies) * 1000:.1f}",
                f"{p95(s.latencies) * 1000:.1f}",
                f"{max(s.latencies) * 1000:.1f}",
                f"{cpu * 100:.0f}%",
                str(sum(s.bad.values())),
                f"{s.rps / bare.rps:.2f}",
            ]
        )
    print()
    print(
        f"{clients} concurrent clients, gunicorn {workers} worker(s) x {threads} thread(s), "
        f"{len(ours.phases)} rounds of {ours.phases[0].seconds:g} s per view (alternating)"
    )
    print(
        table(
            ["view", "requests", "req/s", "per round", "p50 ms", "p95 ms", "max ms", "client CPU", "errors", "x bare"],
            rows,
        )
    )
    for s in series:
        if s.bad:
            print(f"  {s.name}: {dict(s.bad)}")
    print(
        "\nreq/s  = requests answered 200 in the measured windows / their length; p50, p95 over every such request"
        "\n         (nearest rank), from sending the request (connecting first when needed) to the last byte."
        "\nclient CPU = the load generator's own CPU time / wall time (one core = 100%); it shares the machine."
    )
    ratio = ours.rps / bare.rps
    p95_ms = p95(ours.latencies) * 1000
    checks = [
        (f"product list >= {TARGET_RATIO:.0%} of the bare view's req/s ({ratio:.0%})", ratio >= TARGET_RATIO),
        (f"product list p95 < {TARGET_P95_MS:.0f} ms ({p95_ms:.1f} ms)", p95_ms < TARGET_P95_MS),
    ]
    return report_targets(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of unmeasured load, split over both views")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per view (default 20)")
    parser.add_argument("--rounds", type=int, default=4, help="the duration is split into this many alternating rounds")
    parser.add_argument("--products", type=int, default=200, help="products on sale (default 200)")
    parser.add_argument("--skus", type=int, default=4, help="SKUs per product, colour x size (default 4)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3, as the Helm chart)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (default 1: sync worker)")
    parser.add_argument("--profile", action="store_true", help="look inside a request even when the targets are met")
    parser.add_argument("--profile-requests", type=int, default=200, help="requests per view for that look")
    parser.add_argument("--db-name", default="fenxiao_bench_storefront", help="throwaway database (dropped)")
    args = parser.parse_args()
    if args.clients < 1 or args.rounds < 1 or args.duration <= 0 or args.products < 1:
        parser.error("--clients, --rounds, --duration and --products must be positive")

    if importlib.util.find_spec("gunicorn") is None:
        parser.error("gunicorn is not installed: .venv/bin/pip install -r requirements/test.txt")

    total = Stopwatch()
    with throwaway_django(args.db_name, settings_module=SETTINGS) as url, tempfile.TemporaryDirectory() as tmp:
        from django.core.management import call_command

        progress(f"database {args.db_name}: migrating the public schema and the shop template ...")
        call_command("migrate_all", verbosity=0)
        watch = Stopwatch()
        host, _schema = make_shop(args.products, args.skus)
        progress(f"shop {host}: {args.products} products on sale, {args.skus} SKUs each ({watch():.1f}s)")

        from django.test import Client

        response = Client(HTTP_HOST=host, HTTP_ACCEPT="application/json").get(OURS_PATH)
        page = json.loads(response.content)
        if response.status_code != 200 or page.get("count") != args.products:
            raise RuntimeError(f"unexpected product list: HTTP {response.status_code} {response.content[:300]!r}")
        payload = Path(tmp) / "bare.json"
        payload.write_bytes(response.content)
        from bench import urls_storefront

        urls_storefront.PAYLOAD = page  # the server reads the file; this process (the profile) the same page

        from django.db import connections

        connections.close_all()
        port = free_port()
        log = Path(tmp) / "gunicorn.log"
        server = start_server(url, port, args.workers, args.threads, payload, log)
        try:
            wait_ready(server, port, log)
            for name, path in (("product list", OURS_PATH), ("bare view", BARE_PATH)):
                status, body = fetch(port, host, path)
                if status != 200:
                    raise RuntimeError(f"{name}: HTTP {status} {body[:300]!r}")
                progress(f"{name:<13} GET {path} -> {len(body)} bytes")
            ours, bare = Series("product list", OURS_PATH), Series("bare view", BARE_PATH)
            progress(f"warm-up: {args.warmup:g} s, {args.clients} clients ...")
            for s in (ours, bare):
                load(port, host, s.path, args.clients, args.warmup / 2)
            slice_s = args.duration / args.rounds
            for r in range(args.rounds):
                for s in (ours, bare) if r % 2 == 0 else (bare, ours):
                    phase = load(port, host, s.path, args.clients, slice_s)
                    s.phases.append(phase)
                    progress(
                        f"  round {r + 1}/{args.rounds} {s.name:<13} {len(phase.latencies) / slice_s:7.0f} req/s  "
                        f"p95 {p95(phase.latencies) * 1000 if phase.latencies else 0:6.1f} ms"
                    )
        finally:
            stop_server(server)
        met = report([ours, bare], args.clients, args.workers, args.threads)
        if not met or args.profile:
            profile(host, args.profile_requests)
        print(f"\nfinished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")


if __name__ == "__main__":
    main()
