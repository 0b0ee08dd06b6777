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

from bench._common import Stopwatch, median, p95, progress, table, throwaway_django  # noqa: E402

HOT, COLD = "hot SKU", "uncontended"
PRICE = 99_00
PASSWORD = "bench-Password-4711"
TARGET_RATIO = 0.8


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
    parser.add_argument("--db-name", default="fenxiao_bench_hot_sku", help="throwaway database (dropped)")
    args = parser.parse_args()
    if not 1 <= args.processes <= args.buyers:
        parser.error("--processes must be 1 to --buyers")
    if not 1 <= args.buyers <= 90:
        parser.error("--buyers must be 1 to 90 (one connection each; PostgreSQL's default max_connections is 100)")
    if args.units < 1 or args.rounds < 1:
        parser.error("--units and --rounds must be positive")

    total = Stopwatch()
    with throwaway_django(args.db_name) as _url:
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
        print(f"\nfinished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")


if __name__ == "__main__":
    main()
