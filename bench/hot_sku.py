"""Flash sale: order creation on one hot SKU against the same on uncontended SKUs.

    .venv/bin/python bench/hot_sku.py [--buyers 64] [--units 1000] [--rounds 5] [--processes 1]

Runs in a throwaway database (``fenxiao_bench_hot_sku`` on the server of ``DATABASE_URL``,
default postgres://postgres@127.0.0.1:5432), dropped at the end. ``--buyers`` threads,
each a member of one shop with an address and a database connection of its own, call
``shop.orders.services.order_create`` back to back: in a *hot* round all on one SKU with
``--units`` units until it is sold out, in an *uncontended* round each on its own SKU
until ``--units`` orders are placed. Rounds alternate; after each, the database is
checked: orders, units sold and stock left. See bench/README.md."""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Stopwatch, load_note, median, p95, progress, table, throwaway_django  # noqa: E402

HOT, COLD = "hot SKU", "uncontended"
PRICE = 99_00
PASSWORD = "bench-Password-4711"
TARGET_RATIO = 0.9


@dataclass
class Buyer:
    member: Any
    address_id: int


@dataclass
class ThreadResult:
    latencies: list[float] = field(default_factory=list)  # seconds per placed order
    held: list[float] = field(default_factory=list)  # stock row taken -> order committed
    finished: list[float] = field(default_factory=list)  # perf_counter when each order returned
    refusals: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Round:
    kind: str
    number: int
    seconds: float = 0.0  # start signal -> the last order placed
    results: list[ThreadResult] = field(default_factory=list)
    orders: int = 0  # order lines in the database for this round's SKUs
    sold: int = 0  # units on those lines
    stock_left: int = 0
    flash: tuple[int, int] | None = None  # (sold, activity stock) of a flash-sale session (--flash)
    stock_before: int = 0

    @property
    def latencies(self) -> list[float]:
        return [x for r in self.results for x in r.latencies]

    @property
    def held(self) -> list[float]:
        return [x for r in self.results for x in r.held]

    @property
    def placed(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.placed / self.seconds if self.seconds else 0.0

    @property
    def refusals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.results:
            total.update(r.refusals)
        return total

    @property
    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.results:
            total.update(r.errors)
        return total

    @property
    def oversold(self) -> int:
        return max(0, self.sold - self.stock_before)

    @property
    def consistent(self) -> bool:
        """Units sold + stock left = stock before, and the database has exactly the orders
        the buyers were told were placed."""
        return self.sold + self.stock_left == self.stock_before and self.orders == self.placed


# --- set-up (untimed) -------------------------------------------------------------------
def make_buyers(count: int) -> list[Buyer]:
    """``count`` members, each with one (default) address. A cheap password hash: this is
    set-up, not what is measured."""
    from django.test import override_settings

    from shop.members import services

    buyers = []
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        for i in range(count):
            phone = f"139{i:08d}"
            member = services.member_register(phone=phone, password=PASSWORD, name=f"买家 {i + 1}")
            address = services.address_create(
                member,
                recipient=f"买家 {i + 1}",
                phone=phone,
                province="浙江省",
                city="杭州市",
                district="西湖区",
                detail=f"文三路 {i + 1} 号",
            )
            buyers.append(Buyer(member, address.pk))
    return buyers


def make_skus(tenant: Any, name: str, count: int, stock: int) -> list[int]:
    """One product on sale with at least ``count`` SKUs (two spec dimensions when more than
    one), each with ``stock`` units; returns ``count`` SKU ids."""
    from shop.catalogue import services
    from shop.catalogue.models import Product

    if count == 1:
        specs: list[dict[str, Any]] = []
        rows = [{"spec": {}, "price": PRICE, "stock": stock}]
    else:
        across = math.ceil(math.sqrt(count))
        down = math.ceil(count / across)
        colours, sizes = [f"C{i + 1}" for i in range(across)], [f"S{i + 1}" for i in range(down)]
        specs = [{"name": "颜色", "values": colours}, {"name": "尺码", "values": sizes}]
        rows = [{"spec": {"颜色": c, "尺码": s}, "price": PRICE, "stock": stock} for c in colours for s in sizes]
    product = services.product_save(tenant, {"name": name, "specs": specs, "skus": rows})
    services.product_set_status([product], Product.Status.ON_SALE)
    return list(product.skus.order_by("id").values_list("id", flat=True)[:count])


def make_flash_session(sku_id: int, units: int) -> None:
    """A flash-sale session running now with ``sku_id`` at a flash price and ``units`` of
    activity stock (``--flash``)."""
    from datetime import timedelta

    from django.utils import timezone

    from shop.marketing import flash

    now = timezone.now()
    flash.session_create(
        {
            "name": "bench",
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "items": [{"sku": sku_id, "price": PRICE // 10, "stock": units}],
        }
    )


def flash_sold(sku_ids: list[int]) -> tuple[int, int] | None:
    """(units sold, activity stock) of the flash items of ``sku_ids``, or None without one."""
    from django.db.models import Sum

    from shop.marketing.models import FlashItem

    found = FlashItem.objects.filter(sku_id__in=sku_ids).aggregate(sold=Sum("sold"), stock=Sum("stock"))
    return None if found["stock"] is None else (int(found["sold"] or 0), int(found["stock"]))


# --- one round ----------------------------------------------------------------------------
class Tickets:
    """Hands out at most ``limit`` order tickets (the uncontended rounds), across threads
    and, being in shared memory, across forked processes."""

    def __init__(self, limit: int) -> None:
        self.left = multiprocessing.get_context("fork").Value("l", limit)

    def take(self) -> bool:
        with self.left.get_lock():
            if self.left.value <= 0:
                return False
            self.left.value -= 1
            return True


_taken = threading.local()


def _timing_take_stock(real: Callable[[list[tuple[int, int]]], int | None]) -> Callable[..., int | None]:
    """Wraps ``services._take_stock`` to note when the stock row was taken (the row stays
    locked from then until the order's transaction commits)."""

    def take(lines: list[tuple[int, int]]) -> int | None:
        short = real(lines)
        _taken.at = time.perf_counter()
        return short

    return take


@dataclass
class Plan:
    """What every buyer thread of a round needs (inherited by forked processes)."""

    kind: str
    schema: str
    buyers: list[Buyer]
    sku_ids: list[int]
    tickets: Tickets
    start: Any  # a Barrier of every buyer + the conductor
    timeout: float


def buy(plan: Plan, i: int, out: ThreadResult) -> None:
    """Buyer ``i``: order one unit at a time, back to back, from the start signal on."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from shop.catalogue.models import Sku
    from shop.orders import services

    me, sku_id = plan.buyers[i], plan.sku_ids[i % len(plan.sku_ids)]
    try:
        with schema_context(plan.schema):
            Sku.objects.filter(pk=sku_id).exists()  # connect and set the schema before the start
            plan.start.wait()
            deadline = time.perf_counter() + plan.timeout
            while time.perf_counter() < deadline:
                if plan.kind == COLD and not plan.tickets.take():
                    break
                began = time.perf_counter()
                try:
                    services.order_create(
                        me.member,
                        items=[(sku_id, 1, PRICE)],
                        fulfilment="delivery",
                        address_id=me.address_id,
                        idempotency_key=secrets.token_hex(12),
                    )
                except services.OrderRefused as exc:
                    out.refusals[exc.code] += 1
                    if plan.kind == HOT:
                        break  # sold out: stock only goes down in this run
                    continue
                except Exception as exc:
                    out.errors[type(exc).__name__] += 1
                    if sum(out.errors.values()) >= 5:
                        break
                    continue
                ended = time.perf_counter()
                out.latencies.append(ended - began)
                out.held.append(ended - _taken.at)
                out.finished.append(ended)
    except threading.BrokenBarrierError:
        out.errors["BrokenBarrierError"] += 1
    finally:
        connection.close()


def buy_in_threads(plan: Plan, indices: list[int]) -> list[ThreadResult]:
    results = [ThreadResult() for _ in indices]
    threads = [
        threading.Thread(target=buy, args=(plan, i, out), name=f"buyer-{i}")
        for i, out in zip(indices, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _process_main(plan: Plan, indices: list[int], queue: Any) -> None:
    queue.put(buy_in_threads(plan, indices))


def run_round(
    kind: str,
    number: int,
    schema: str,
    buyers: list[Buyer],
    sku_ids: list[int],
    units: int,
    timeout: float,
    processes: int,
) -> Round:
    """The buyers in ``processes`` processes (1: threads of this process; more: forked
    children, buyer i in child i mod processes), all released by one barrier."""
    from django.db import connections
    from django.db.models import Sum
    from django_tenants.utils import schema_context

    from shop.catalogue.models import Sku
    from shop.orders.models import OrderLine

    result = Round(kind, number)
    with schema_context(schema):
        result.stock_before = sum(Sku.objects.filter(pk__in=sku_ids).values_list("stock", flat=True))
    fork = multiprocessing.get_context("fork")
    parties = len(buyers) + 1
    start = threading.Barrier(parties, timeout=120) if processes == 1 else fork.Barrier(parties, timeout=120)
    plan = Plan(kind, schema, buyers, sku_ids, Tickets(units), start, timeout)
    if processes == 1:
        holder: list[list[ThreadResult]] = []
        conductor = threading.Thread(target=lambda: holder.append(buy_in_threads(plan, list(range(len(buyers))))))
        conductor.start()
        start.wait()
        started = time.perf_counter()
        conductor.join()
        result.results = holder[0] if holder else []
    else:
        connections.close_all()  # a forked child must not share this process's connection
        queue = fork.Queue()
        children = [
            fork.Process(target=_process_main, args=(plan, list(range(p, len(buyers), processes)), queue))
            for p in range(processes)
        ]
        for child in children:
            child.start()
        start.wait()
        started = time.perf_counter()  # CLOCK_MONOTONIC: the children's clock too
        for _ in children:
            result.results.extend(queue.get(timeout=timeout + 180))
        for child in children:
            child.join()
    finished = [t for r in result.results for t in r.finished]
    result.seconds = (max(finished) - started) if finished else 0.0
    with schema_context(schema):
        lines = OrderLine.objects.filter(sku_id__in=sku_ids)
        result.orders = lines.count()
        result.sold = lines.aggregate(units=Sum("quantity"))["units"] or 0
        result.stock_left = sum(Sku.objects.filter(pk__in=sku_ids).values_list("stock", flat=True))
        result.flash = flash_sold(sku_ids)
    return result


# --- the run ------------------------------------------------------------------------------
def report(rounds: list[Round], buyers: int, units: int, processes: int) -> None:
    rows = []
    for r in rounds:
        rows.append(
            [
                f"{r.kind} #{r.number}",
                str(r.placed),
                f"{r.seconds:.2f}",
                f"{r.rate:.0f}",
                f"{median(r.latencies) * 1000:.1f}" if r.latencies else "-",
                f"{p95(r.latencies) * 1000:.1f}" if r.latencies else "-",
                f"{median(r.held) * 1000:.2f}" if r.held else "-",
                str(sum(r.refusals.values())),
                str(sum(r.errors.values())),
                str(r.stock_left),
                str(r.oversold) if r.kind == HOT else "-",
                "yes" if r.consistent else "NO",
            ]
        )
    headers = [
        "round",
        "orders",
        "seconds",
        "orders/s",
        "p50 ms",
        "p95 ms",
        "row held p50 ms",
        "refused",
        "errors",
        "stock left",
        "oversold",
        "books balance",
    ]
    where = "threads of one process" if processes == 1 else f"threads spread over {processes} processes"
    print(f"\n{buyers} concurrent buyers ({where}, one connection each), {units} orders per round, in run order")
    print(table(headers, rows))

    summary = []
    for kind in (HOT, COLD):
        mine = [r for r in rounds if r.kind == kind]
        latencies = [x for r in mine for x in r.latencies]
        held = [x for r in mine for x in r.held]
        rates = [r.rate for r in mine]
        summary.append(
            [
                kind,
                str(sum(r.placed for r in mine)),
                f"{median(rates):.0f}",
                f"{min(rates):.0f}-{max(rates):.0f}",
                f"{median(latencies) * 1000:.1f}" if latencies else "-",
                f"{p95(latencies) * 1000:.1f}" if latencies else "-",
                f"{median(held) * 1000:.2f}" if held else "-",
                f"{1 / (sum(held) / len(held)):.0f}" if held and kind == HOT else "-",
                str(sum(sum(r.refusals.values()) for r in mine)),
                str(sum(r.oversold for r in mine)) if kind == HOT else "-",
            ]
        )
    print("\nsummary (orders/s: median of the rounds; latencies: every order placed in them)")
    print(
        table(
            [
                "case",
                "orders",
                "orders/s",
                "per round",
                "p50 ms",
                "p95 ms",
                "row held p50 ms",
                "1 / mean held",
                "refused",
                "oversold",
            ],
            summary,
        )
    )
    for r in rounds:
        if r.refusals or r.errors:
            print(f"  {r.kind} #{r.number}: refused {dict(r.refusals)}, errors {dict(r.errors)}")
    print(
        "\norders/s       = orders placed / seconds from the start signal to the last order's commit."
        "\nrow held       = from the stock UPDATE returning to order_create returning (the rest of the"
        "\n                 transaction and its commit): the SKU row is locked that long. On one hot SKU the"
        "\n                 orders queue on it, so 1 / mean held is the ceiling of the hot rate."
        "\nrefused        = OrderRefused (hot rounds: each buyer stops at its first, the SKU being sold out)."
        "\nbooks balance  = units sold + stock left = stock before, and orders in the database = orders placed."
    )
    hot = [r for r in rounds if r.kind == HOT]
    cold = [r for r in rounds if r.kind == COLD]
    oversold = sum(r.oversold for r in hot)
    ratio = median([r.rate for r in hot]) / median([r.rate for r in cold])
    sold_out = all(r.stock_left == 0 and r.orders == units and r.sold == units for r in hot)
    balanced = all(r.consistent for r in rounds)
    print(f"\n{oversold} OVERSOLD" if oversold else "\n0 oversold")
    checks = [
        (f"0 oversold ({oversold})", oversold == 0),
        (
            f"every hot round sold out exactly: stock 0, {units} orders, {units} units",
            sold_out,
        ),
        ("books balance in every round", balanced),
        *(
            [
                (
                    "flash activity stock sold exactly, never more (sold = activity stock = orders)",
                    all(r.flash is not None and r.flash[0] == r.flash[1] == r.sold for r in hot),
                )
            ]
            if any(r.flash is not None for r in hot)
            else []
        ),
        (f"hot >= {TARGET_RATIO:.0%} of the uncontended orders/s ({ratio:.0%})", ratio >= TARGET_RATIO),
    ]
    print("targets:")
    for label, ok in checks:
        print(f"  {'met    ' if ok else 'MISSED '} {label}")


# --- the whole request (--http): POST /api/v1/orders/ through gunicorn ----------------------
ORDERS_PATH = "/api/v1/orders/"
CART_PATH = "/api/v1/cart/items/"
BARE_PATH = "/bench/bare/"


@dataclass
class HttpBuyer:
    token: str
    address_id: int


def make_tokens(buyers: list[Buyer]) -> list[HttpBuyer]:
    """An API token per buyer (as a mini-program client logs in)."""
    from shop.members import services

    return [HttpBuyer(services.token_issue(b.member, name="bench")[1], b.address_id) for b in buyers]


def _post(host: str, path: str, token: str, body: dict[str, Any], key: str | None = None) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(payload)}\r\n"
        + (f"Idempotency-Key: {key}\r\n" if key else "")
        + "\r\n"
    )
    return head.encode("ascii") + payload


async def _http_buy(
    port: int, host: str, kind: str, me: HttpBuyer, sku_id: int, tickets: Tickets, stop: float, out: ThreadResult
) -> None:
    """One buyer: the SKU into the cart, then the order, again and again (hot: until
    refused; uncontended: while tickets last). Keeps its connection while the server does
    (gunicorn's sync workers close it after each answer: a reconnect is part of the time)."""
    import asyncio

    from bench.storefront import _read_response

    streams: list[Any] = []

    async def ask(request: bytes) -> int:
        if not streams:
            streams.extend(await asyncio.open_connection("127.0.0.1", port))
        reader, writer = streams
        writer.write(request)
        status, closes = await _read_response(reader)
        if closes:
            writer.close()
            streams.clear()
        return int(status)

    try:
        while time.perf_counter() < stop:
            if kind == COLD and not tickets.take():
                break
            began = time.perf_counter()
            status = await ask(_post(host, CART_PATH, me.token, {"sku": sku_id, "quantity": 1}))
            if status != 201:  # 400 "Only 0 left": sold out before it reached the cart
                out.refusals[f"cart {status}"] += 1
                if kind == HOT:
                    break
                continue
            ordered = time.perf_counter()
            body = {"fulfilment": "delivery", "address": me.address_id}
            status = await ask(_post(host, ORDERS_PATH, me.token, body, key=secrets.token_hex(12)))
            ended = time.perf_counter()
            if status == 201:
                out.latencies.append(ended - ordered)  # the order request alone
                out.held.append(ended - began)  # cart + order
                out.finished.append(ended)
            elif status == 409:
                out.refusals["stock"] += 1
                if kind == HOT:
                    break
            else:
                out.errors[f"HTTP {status}"] += 1
                if sum(out.errors.values()) >= 5:
                    break
    finally:
        if streams:
            streams[1].close()


def run_http_round(
    kind: str,
    number: int,
    schema: str,
    port: int,
    host: str,
    buyers: list[HttpBuyer],
    sku_ids: list[int],
    units: int,
    timeout: float,
) -> Round:
    import asyncio

    from django.db.models import Sum
    from django_tenants.utils import schema_context

    from shop.catalogue.models import Sku
    from shop.orders.models import OrderLine

    result = Round(kind, number)
    with schema_context(schema):
        result.stock_before = sum(Sku.objects.filter(pk__in=sku_ids).values_list("stock", flat=True))
    tickets = Tickets(units)
    result.results = [ThreadResult() for _ in buyers]
    started = time.perf_counter()

    async def everyone() -> None:
        stop = time.perf_counter() + timeout
        await asyncio.gather(
            *(
                _http_buy(port, host, kind, me, sku_ids[i % len(sku_ids)], tickets, stop, out)
                for i, (me, out) in enumerate(zip(buyers, result.results, strict=True))
            )
        )

    asyncio.run(everyone())
    finished = [t for r in result.results for t in r.finished]
    result.seconds = (max(finished) - started) if finished else 0.0
    with schema_context(schema):
        empty_carts()  # (refused orders leave their item in the cart)
        lines = OrderLine.objects.filter(sku_id__in=sku_ids)
        result.orders = lines.count()
        result.sold = lines.aggregate(units=Sum("quantity"))["units"] or 0
        result.stock_left = sum(Sku.objects.filter(pk__in=sku_ids).values_list("stock", flat=True))
    return result


def empty_carts() -> None:
    from shop.checkout.models import CartItem

    CartItem.objects.all().delete()


def bare_rate(port: int, host: str, clients: int, seconds: float) -> tuple[float, list[float]]:
    """The peer: requests/s of a constant JSON view through the same server and middleware."""
    from bench.storefront import load

    phase = load(port, host, BARE_PATH, clients, seconds)
    return len(phase.latencies) / seconds, phase.latencies


def report_http(rounds: list[Round], bare: list[float], bare_latencies: list[float], buyers: int, units: int) -> None:
    rows = []
    for kind in (HOT, COLD):
        mine = [r for r in rounds if r.kind == kind]
        rates = [r.rate for r in mine]
        latencies = [x for r in mine for x in r.latencies]
        cycle = [x for r in mine for x in r.held]
        rows.append(
            [
                kind,
                str(sum(r.placed for r in mine)),
                f"{median(rates):.0f}",
                f"{min(rates):.0f}-{max(rates):.0f}",
                f"{median(rates) * 2:.0f}",
                f"{median(latencies) * 1000:.1f}",
                f"{p95(latencies) * 1000:.1f}",
                f"{median(cycle) * 1000:.1f}",
                str(sum(sum(r.refusals.values()) for r in mine)),
                str(sum(sum(r.errors.values()) for r in mine)),
            ]
        )
    rows.append(
        [
            "peer: bare view",
            "-",
            "-",
            f"{min(bare):.0f}-{max(bare):.0f}",
            f"{median(bare):.0f}",
            f"{median(bare_latencies) * 1000:.1f}",
            f"{p95(bare_latencies) * 1000:.1f}",
            "-",
            "-",
            "-",
        ]
    )
    print(f"\n{buyers} buyers over HTTP (one keep-alive connection each), {units} orders per round; summary")
    print(
        table(
            [
                "case",
                "orders",
                "orders/s",
                "per round",
                "requests/s",
                "order p50 ms",
                "order p95 ms",
                "cart+order p50 ms",
                "refused",
                "errors",
            ],
            rows,
        )
    )
    for r in rounds:
        if r.refusals or r.errors:
            print(f"  {r.kind} #{r.number}: refused {dict(r.refusals)}, errors {dict(r.errors)}")
    hot = median([r.rate for r in rounds if r.kind == HOT])
    cold = median([r.rate for r in rounds if r.kind == COLD])
    print(
        "\nan order = POST /api/v1/cart/items/ then POST /api/v1/orders/ (token auth, Idempotency-Key): 2 requests."
        f"\nhot / uncontended = {hot / cold:.0%}; an order's 2 requests against the bare view's: "
        f"{hot * 2 / median(bare):.0%} (hot), {cold * 2 / median(bare):.0%} (uncontended)"
    )
    oversold = sum(r.oversold for r in rounds if r.kind == HOT)
    checks = [
        (f"0 oversold ({oversold})", oversold == 0),
        (
            "every hot round sold out exactly",
            all(r.stock_left == 0 and r.sold == units for r in rounds if r.kind == HOT),
        ),
        ("books balance in every round", all(r.consistent for r in rounds)),
        (f"hot >= {TARGET_RATIO:.0%} of the uncontended orders/s ({hot / cold:.0%})", hot / cold >= TARGET_RATIO),
    ]
    print("targets:")
    for label, ok in checks:
        print(f"  {'met    ' if ok else 'MISSED '} {label}")


# --- a look inside one order request (--profile) ----------------------------------------
def profile_orders(tenant: Any, buyer: Buyer, requests: int) -> None:
    """In this process through Django's test client: the statements of one POST
    /api/v1/orders/, where its time goes (pyinstrument, the order requests only), and the
    share spent waiting on PostgreSQL."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import schema_context
    from pyinstrument import Profiler

    from shop.members import services as members
    from tenants.services import shop_host

    with schema_context(tenant.schema_name):
        empty_carts()
        sku_id = make_skus(tenant, "剖析", 1, 2 * requests + 100)[0]  # two passes of requests
        key = members.token_issue(buyer.member, name="profile")[1]
    client = Client(HTTP_HOST=shop_host(tenant), HTTP_AUTHORIZATION=f"Bearer {key}")

    def order() -> Any:
        return client.post(
            ORDERS_PATH,
            data=json.dumps({"fulfilment": "delivery", "address": buyer.address_id}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=secrets.token_hex(12),
        )

    def add() -> None:
        assert (
            client.post(
                CART_PATH, data=json.dumps({"sku": sku_id, "quantity": 1}), content_type="application/json"
            ).status_code
            == 201
        )

    for _ in range(20):  # the process learns the shop (host record, settings, calendar)
        add()
        placed = order()
        assert placed.status_code == 201, placed.content
    add()
    with CaptureQueriesContext(connection) as captured:
        assert order().status_code == 201
    print(f"\n-- one POST {ORDERS_PATH} (in this process, Django's test client): {len(captured)} statements")
    for query in captured.captured_queries:
        print(f"    {' '.join(query['sql'].split())[:150]}")

    sql = [0.0]

    def timed(execute, sql_text, params, many, context):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            sql[0] += time.perf_counter() - began

    profiler = Profiler(interval=0.0002)
    times: list[float] = []
    in_sql = 0.0
    with connection.execute_wrapper(timed):
        for _ in range(requests):
            add()
            profiler.start()
            began, sql_before = time.perf_counter(), sql[0]
            response = order()
            times.append(time.perf_counter() - began)
            in_sql += sql[0] - sql_before
            profiler.stop()
            assert response.status_code == 201
    print(
        f"\n{requests} sequential order requests: median {median(times) * 1000:.2f} ms, p95 {p95(times) * 1000:.2f} ms, "
        f"{in_sql / sum(times) * 100:.0f}% of it waiting on PostgreSQL (execute), "
        f"{1 / median(times):.0f} orders/s on one core"
    )
    print(profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False))

    # CPU time by package (cProfile on process time: waiting for the CPU on a busy machine,
    # or for PostgreSQL, is not in it), the same number of order requests again.
    import cProfile
    import pstats

    from bench.storefront import _group

    cpu = cProfile.Profile(time.process_time)
    for _ in range(requests):
        add()
        cpu.enable()
        response = order()
        cpu.disable()
        assert response.status_code == 201
    raw = pstats.Stats(cpu).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    groups: Counter[str] = Counter()
    for (filename, _line, function), entry in raw.items():
        groups[_group(filename, function)] += entry[2]
    print(f"\nCPU per order request: {total / requests * 1000:.2f} ms; own CPU time by package:")
    print(table(["code", "CPU %"], [[name, f"{t / total * 100:.1f}"] for name, t in groups.most_common(16)]))
    wanted = ("order_create", "_place", "quote", "authenticate", "to_representation", "member_cart_items", "data")
    steps = [
        (key, entry)
        for key, entry in sorted(raw.items(), key=lambda item: item[1][3], reverse=True)
        if key[2] in wanted and ("shop/" in key[0] or "rest_framework/serializers.py" in key[0] or "members" in key[0])
    ][:10]
    print("\nCPU of the steps (cumulative, per request):")
    print(
        table(
            ["step", "CPU ms", "%"],
            [
                [f"{Path(f).name}:{line}({fn})", f"{e[3] / requests * 1000:.2f}", f"{e[3] / total * 100:.0f}"]
                for (f, line, fn), e in steps
            ],
        )
    )


def run_http(args: argparse.Namespace, url: str, tenant: Any, buyers: list[Buyer]) -> None:
    """--http: rounds of hot and uncontended orders through gunicorn, a slice of the bare
    view after each pair."""
    import tempfile

    from django.db import connections
    from django_tenants.utils import schema_context

    from bench.storefront import free_port, start_server, stop_server, wait_ready
    from tenants.services import shop_host

    with schema_context(tenant.schema_name):
        http_buyers = make_tokens(buyers)
    host = shop_host(tenant)
    rounds: list[Round] = []
    bare: list[float] = []
    bare_latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "bare.json"
        payload.write_text(json.dumps({"id": 1, "number": "bench", "status": "unpaid", "lines": []}))
        connections.close_all()
        port = free_port()
        log = Path(tmp) / "gunicorn.log"
        server = start_server(url, port, args.workers, args.threads, payload, log)
        try:
            wait_ready(server, port, log)
            progress(f"gunicorn {args.workers} worker(s) x {args.threads} thread(s) on :{port}, shop {host}")
            bare_rate(port, host, args.buyers, 2)  # warm-up
            for n in range(args.rounds):
                for kind in (COLD, HOT) if n % 2 == 0 else (HOT, COLD):
                    with schema_context(tenant.schema_name):
                        name = f"{'秒杀' if kind == HOT else '日常款'} 第{n + 1}轮"
                        skus = make_skus(tenant, name, 1 if kind == HOT else args.buyers, args.units)
                    done = run_http_round(
                        kind, n + 1, tenant.schema_name, port, host, http_buyers, skus, args.units, args.timeout
                    )
                    rounds.append(done)
                    progress(
                        f"  {kind:<12} #{n + 1}: {done.placed} orders in {done.seconds:.2f}s = {done.rate:6.0f}/s, "
                        f"order p95 {p95(done.latencies) * 1000 if done.latencies else 0:.1f} ms, "
                        f"refused {sum(done.refusals.values())}, errors {sum(done.errors.values())}, "
                        f"stock left {done.stock_left}"
                    )
                rate, latencies = bare_rate(port, host, args.buyers, args.bare_seconds)
                bare.append(rate)
                bare_latencies.extend(latencies)
                progress(f"  bare view    #{n + 1}: {rate:6.0f} requests/s")
        finally:
            stop_server(server)
    report_http(rounds, bare, bare_latencies, args.buyers, args.units)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=64, help="concurrent buyers, one thread and connection each")
    parser.add_argument("--units", type=int, default=1000, help="hot SKU stock = orders per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each case, alternating (default 5)")
    parser.add_argument("--timeout", type=float, default=120, help="a round stops ordering after this many seconds")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="spread the buyer threads over this many forked processes (default 1: all threads of this process)",
    )
    parser.add_argument(
        "--flash",
        action="store_true",
        help="the hot SKU sells in a running flash-sale session (activity stock = --units): every hot order "
        "also takes a unit of the session's activity stock",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="buy through HTTP (cart, then POST /api/v1/orders/) served by gunicorn, beside a bare view",
    )
    parser.add_argument("--workers", type=int, default=3, help="--http: gunicorn workers (default 3, as the chart)")
    parser.add_argument("--threads", type=int, default=1, help="--http: gunicorn threads per worker (default 1)")
    parser.add_argument("--bare-seconds", type=float, default=4, help="--http: seconds of the bare view per round")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="then profile N order requests in-process (pyinstrument)"
    )
    parser.add_argument("--db-name", default="fenxiao_bench_hot_sku", help="throwaway database (dropped)")
    args = parser.parse_args()
    if not 1 <= args.processes <= args.buyers:
        parser.error("--processes must be 1 to --buyers")
    if not 1 <= args.buyers <= 90:
        parser.error("--buyers must be 1 to 90 (one connection each; PostgreSQL's default max_connections is 100)")
    if args.units < 1 or args.rounds < 1:
        parser.error("--units and --rounds must be positive")

    total = Stopwatch()
    progress(load_note())
    if args.http:
        settings_module = "bench.settings_storefront"  # the project's, plus the bare view
    else:
        settings_module = "platform_core.settings"
    with throwaway_django(args.db_name, settings_module=settings_module) as url:
        from django.core.management import call_command
        from django_tenants.utils import schema_context

        from shop.orders import services
        from tenants.services import shop_signup

        progress(f"database {args.db_name}: migrating the public schema and the shop template ...")
        call_command("migrate_all", verbosity=0)
        tenant = shop_signup(
            name="Bench flash sale", slug="flashsale", email="owner@flashsale.bench.test", password=PASSWORD, tier="pro"
        ).tenant
        watch = Stopwatch()
        with schema_context(tenant.schema_name):
            buyers = make_buyers(args.buyers)
        progress(f"shop {tenant.slug}: {args.buyers} buyers with an address ({watch():.1f}s)")

        if args.http:
            run_http(args, url, tenant, buyers)
            if args.profile:
                profile_orders(tenant, buyers[0], args.profile)
            print(f"\n{load_note()}; finished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")
            return
        real_take = services._take_stock
        services._take_stock = _timing_take_stock(real_take)  # type: ignore[assignment]
        rounds: list[Round] = []
        try:
            for n in range(args.rounds):
                for kind in (COLD, HOT) if n % 2 == 0 else (HOT, COLD):
                    with schema_context(tenant.schema_name):
                        if kind == HOT:
                            skus = make_skus(tenant, f"秒杀 第{n + 1}轮", 1, args.units)
                            if args.flash:
                                make_flash_session(skus[0], args.units)
                        else:
                            skus = make_skus(tenant, f"日常款 第{n + 1}轮", args.buyers, args.units)
                    done = run_round(
                        kind, n + 1, tenant.schema_name, buyers, skus, args.units, args.timeout, args.processes
                    )
                    rounds.append(done)
                    progress(
                        f"  {kind:<12} #{n + 1}: {done.placed} orders in {done.seconds:.2f}s = {done.rate:6.0f}/s, "
                        f"p95 {p95(done.latencies) * 1000 if done.latencies else 0:.1f} ms, "
                        f"refused {sum(done.refusals.values())}, errors {sum(done.errors.values())}, "
                        f"stock left {done.stock_left}"
                    )
        finally:
            services._take_stock = real_take  # type: ignore[assignment]
        with schema_context(tenant.schema_name):
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SHOW max_connections")
                row = cursor.fetchone()
        report(rounds, args.buyers, args.units, args.processes)
        print(f"(PostgreSQL max_connections {row[0] if row else '?'}; this run used {args.buyers + 1})")
        if args.profile:
            profile_orders(tenant, buyers[0], args.profile)
        print(f"\n{load_note()}; finished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")


if __name__ == "__main__":
    main()
