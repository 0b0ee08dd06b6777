"""A decorated home page rendered through the theme engine under load: a built-in theme,
the same theme with a shop's Liquid overrides, and a bare Django JSON view, 32 concurrent
clients each.

    .venv/bin/python bench/themes.py [--clients 32] [--warmup 9] [--duration 20] [--rounds 8]

Runs in a throwaway database (``fenxiao_bench_themes`` on the server of ``DATABASE_URL``,
default postgres://postgres@127.0.0.1:5432) with media in a temporary folder, both removed
at the end. Two custom-tier shops with the same catalogue (``--products`` products with an
image each, five categories) and the same home page of ten decoration blocks (banner,
notice, search, category navigation, three product grids, rich text, distributor
recruitment, spacer) on the "allround" theme; the second shop has published overrides of
``templates/index`` and ``sections/block-product_grid`` (the theme's own Liquid, inlined
and wrapped). gunicorn serves the project on 127.0.0.1 with bench/settings_storefront.py
(the project's settings plus the bare view at ``/bench/bare/``, whose payload here is the
home page's own JSON from ``/api/v1/pages/home/``); a closed-loop client asks for ``GET /``
on each shop's host and for the bare view, in alternating rounds. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import io
import json
import pstats
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Stopwatch, median, p95, progress, report_targets, table, throwaway_django  # noqa: E402
from bench.storefront import (  # noqa: E402
    BARE_PATH,
    SETTINGS,
    Phase,
    Series,
    _group,
    _load,
    _short,
    free_port,
    start_server,
    stop_server,
    wait_ready,
)

HOME_PATH = "/"
PASSWORD = "bench-Password-4711"
THEME = "allround"
TARGET_THEME_RATIO = 0.40  # theme req/s vs the bare view's
TARGET_THEME_P95_MS = 80.0
TARGET_OVERRIDE_RATIO = 0.90  # override req/s vs the theme's: within 10%
MARKER = "bench-own"  # in the overrides' output only: proves they render


# --- the shops ------------------------------------------------------------------------------
def _image(colour: tuple[int, int, int], size: tuple[int, int], name: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=70)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def home_blocks(product_ids: list[int], category_id: int, banners: list[str]) -> list[dict[str, Any]]:
    """Ten blocks, valid by shop/decoration/blocks.py."""
    return [
        {
            "type": "banner",
            "config": {
                "slides": [
                    {"image": url, "alt": f"春季上新 {n + 1}", "link": {"type": "product", "id": product_ids[n]}}
                    for n, url in enumerate(banners)
                ],
                "interval": 4,
            },
        },
        {
            "type": "notice",
            "config": {"text": "全场满 199 元包邮，新人首单立减 20 元", "link": {"type": "search", "q": "新品"}},
        },
        {"type": "search", "config": {"placeholder": "搜索商品"}},
        {"type": "category_nav", "config": {"categories": [], "layout": "grid"}},
        {"type": "product_grid", "config": {"title": "新品上架", "source": "newest", "limit": 6, "columns": 2}},
        {"type": "product_grid", "config": {"title": "热销榜单", "source": "best_sellers", "limit": 6, "columns": 3}},
        {
            "type": "product_grid",
            "config": {"title": "分类精选", "source": "category", "category": category_id, "limit": 6, "columns": 2},
        },
        {
            "type": "rich_text",
            "config": {
                "html": "<h3>关于我们</h3><p>精选<strong>原产地</strong>好物，<em>48 小时</em>内发货。</p>"
                "<ul><li>七天无理由退换</li><li>正品保障</li><li>分享赚佣金</li></ul>"
            },
        },
        {
            "type": "distributor_recruit",
            "config": {"title": "成为分销员", "text": "分享商品给好友，成交即得佣金。", "button": "立即加入"},
        },
        {"type": "spacer", "config": {"height": 24}},
    ]


def override_sources(files: dict[str, str]) -> dict[str, str]:
    """Equivalent Liquid for ``templates/index`` (the blocks snippet inlined) and
    ``sections/block-product_grid`` (the theme's own, wrapped), marked so the page shows
    they rendered."""
    return {
        "templates/index": (
            "{% for block in page.blocks %}"
            f'<section class="block block-{{{{ block.type }}}}" data-block="{{{{ block.id }}}}" data-{MARKER}>'
            "{% include block.section, block: block %}</section>\n{% endfor %}"
        ),
        "sections/block-product_grid": f'<div class="{MARKER}-grid">' + files["sections/block-product_grid"] + "</div>",
    }


def make_shop(slug: str, products: int, *, overrides: bool) -> tuple[str, str]:
    """One custom-tier shop: five categories, ``products`` products on sale with one image
    each and spread-out sales, the ten-block home page published, the theme chosen and
    published; with ``overrides``, the two overrides published. Returns (host, schema)."""
    from django_tenants.utils import schema_context

    from shop.catalogue import services as catalogue
    from shop.catalogue.models import Product
    from shop.decoration import services as decoration
    from shop.storefront import services as theming
    from shop.storefront.theming import theme_layers
    from tenants.services import shop_host, shop_signup

    tenant = shop_signup(
        name=f"Bench {slug}", slug=slug, email=f"owner@{slug}.bench.test", password=PASSWORD, tier="custom"
    ).tenant
    rng = random.Random(4711)  # the same catalogue in every shop
    with schema_context(tenant.schema_name):
        categories = [catalogue.category_save(name=f"分类 {i + 1}") for i in range(5)]
        made = []
        for i in range(products):
            base = rng.randrange(19_00, 499_00, 100)
            made.append(
                catalogue.product_save(
                    tenant,
                    {
                        "name": f"纯棉短袖T恤 {i + 1:03d} 夏季新款",
                        "subtitle": "透气舒适 · 多色可选",
                        "category": categories[i % len(categories)].pk,
                        "skus": [{"spec": {}, "price": base, "list_price": base + 30_00, "stock": 100}],
                    },
                )
            )
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            catalogue.image_add(made[-1], _image(colour, (400, 400), f"p{i}.jpg"))
        catalogue.product_set_status(made, Product.Status.ON_SALE)
        for product in made:
            Product.objects.filter(pk=product.pk).update(sales_count=rng.randrange(0, 10_000))
        banners = [decoration.image_upload(_image((200, 40 * n, 90), (750, 330), f"banner{n}.jpg")) for n in range(3)]
        page = decoration.home_page()
        decoration.page_save_draft(
            page, {"blocks": home_blocks([p.pk for p in made], categories[0].pk, banners)}, tenant=tenant
        )
        decoration.page_publish(page, tenant=tenant, by="bench")
        theming.theme_choose(tenant, THEME)
        theming.theme_publish(tenant, actor="bench")
        if overrides:
            version = theming._active_version()
            files: dict[str, str] = {}
            for _origin, layer in reversed(theme_layers(version)):
                files.update(layer)
            for name, source in override_sources(files).items():
                _row, problem = theming.override_save_draft(tenant, name, source)
                if problem is not None:
                    raise RuntimeError(f"override {name}: {problem}")
                theming.override_publish(tenant, name, actor="bench")
    return shop_host(tenant), tenant.schema_name


# --- requests -------------------------------------------------------------------------------
def _request(host: str, path: str, accept: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nAccept-Language: zh-CN\r\n"
        "User-Agent: fenxiao-bench\r\n\r\n"
    ).encode("ascii")


def get(port: int, host: str, path: str, accept: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, "Accept": accept, "Accept-Language": "zh-CN"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class View(Series):
    def __init__(self, name: str, host: str, path: str, accept: str) -> None:
        super().__init__(name, path)
        self.host = host
        self.accept = accept

    def run(self, port: int, clients: int, seconds: float) -> Phase:
        return asyncio.run(_load(port, _request(self.host, self.path, self.accept), clients, seconds))


def check_pages(port: int, theme: View, override: View, bare: View) -> None:
    """Each view answers 200; both pages have the ten blocks and the products, only the
    override shop's page shows the overrides' marker."""
    bodies = {}
    for view in (theme, override, bare):
        status, body = get(port, view.host, view.path, view.accept)
        if status != 200:
            raise RuntimeError(f"{view.name}: HTTP {status} {body[:300]!r}")
        bodies[view.name] = body.decode()
        progress(f"{view.name:<16} GET {view.host}{view.path} -> {len(body)} bytes")
    for view in (theme, override):
        html = bodies[view.name]
        sections = html.count('<section class="block block-')
        grids = html.count("block-product_grid")
        if sections != 10 or grids < 3 or "纯棉短袖T恤" not in html or "/decoration/" not in html:
            raise RuntimeError(f"{view.name}: {sections} blocks, {grids} grids; not the decorated home page")
    if MARKER in bodies[theme.name] or bodies[override.name].count(f"{MARKER}-grid") != 3:
        raise RuntimeError("the overrides do not render where they should (or render where they should not)")
    if len(json.loads(bodies[bare.name])["blocks"]) != 10:
        raise RuntimeError("the bare view's payload is not the home page's ten blocks")


# --- a look inside one request (in this process, no server) -----------------------------------
def profile(views: list[View], requests: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {v.name: Client(HTTP_HOST=v.host, HTTP_ACCEPT=v.accept, HTTP_ACCEPT_LANGUAGE="zh-CN") for v in views}
    for _ in range(20):
        for v in views:
            clients[v.name].get(v.path)
    print("\n-- a look inside one request (in this process through Django's test client, no server)")
    for v in views:
        with CaptureQueriesContext(connection) as captured:
            response = clients[v.name].get(v.path)
        print(f"{v.name}: HTTP {response.status_code}, {len(response.content)} bytes, {len(captured)} queries")
        for query in captured.captured_queries:
            print(f"    {query['time']:>6}s  {' '.join(query['sql'].split())[:150]}")
    rows = []
    for v in views:
        times = []
        for _ in range(requests):
            began = time.perf_counter()
            clients[v.name].get(v.path)
            times.append(time.perf_counter() - began)
        rows.append([v.name, f"{median(times) * 1000:.2f}", f"{p95(times) * 1000:.2f}", f"{1 / median(times):.0f}"])
    print(f"\nsequential, {requests} requests each (one thread, no network):")
    print(table(["view", "median ms", "p95 ms", "req/s, 1 core"], rows))
    for v in views[:2]:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            clients[v.name].get(v.path)
        profiler.disable()
        raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        total = sum(entry[2] for entry in raw.values())
        groups: Counter[str] = Counter()
        for (filename, _line, function), entry in raw.items():
            groups[_group(filename, function)] += entry[2]
        print(f"\nwhere {v.name}'s time goes (cProfile, own time by package, {requests} requests):")
        print(table(["code", "own time %"], [[n, f"{s / total * 100:.1f}"] for n, s in groups.most_common(12)]))
        wanted = [
            ("shop/storefront/views.py", "get"),
            ("shop/decoration/services.py", "page_for_render"),
            ("shop/catalogue/selectors.py", "category_tree"),
            ("shop/storefront/theming.py", "resolve"),
            ("shop/storefront/theming.py", "base_context"),
            ("shop/storefront/theming.py", "_prepare_blocks"),
            ("themes/engine.py", "render"),
            ("shop/storefront/theming.py", "render_page"),
        ]
        found = []
        for (filename, line, function), entry in raw.items():
            for suffix, name in wanted:
                if filename.endswith(suffix) and function == name:
                    found.append(
                        [
                            f"{_short(filename)}:{line}({function})",
                            f"{entry[1] / requests:.1f}",
                            f"{entry[3] / requests * 1000:.2f}",
                            f"{entry[3] / total * 100:.0f}",
                        ]
                    )
        print(f"\nthe steps of {v.name}, cumulative per request:")
        print(table(["function", "calls/req", "cum ms/req", "cum %"], sorted(found, key=lambda r: -float(r[2]))))


# --- the run --------------------------------------------------------------------------------
def report(views: list[View], clients: int, workers: int, threads: int) -> bool:
    theme, override, bare = views
    rows = []
    for s in views:
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
                f"{s.rps / theme.rps:.2f}",
            ]
        )
    print()
    print(
        f"{clients} concurrent clients, gunicorn {workers} worker(s) x {threads} thread(s), "
        f"{len(theme.phases)} rounds of {theme.phases[0].seconds:g} s per view (alternating)"
    )
    print(
        table(
            [
                "view",
                "requests",
                "req/s",
                "per round",
                "p50 ms",
                "p95 ms",
                "max ms",
                "client CPU",
                "errors",
                "x bare",
                "x theme",
            ],
            rows,
        )
    )
    for s in views:
        if s.bad:
            print(f"  {s.name}: {dict(s.bad)}")
    print(
        "\nreq/s  = requests answered 200 in the measured windows / their length; p50, p95 over every such request"
        "\n         (nearest rank), from sending the request (connecting first when needed) to the last byte."
        "\nclient CPU = the load generator's own CPU time / wall time (one core = 100%); it shares the machine."
    )
    theme_ratio = theme.rps / bare.rps
    theme_p95 = p95(theme.latencies) * 1000
    # Each round runs the views one after the other: a ratio within a round is less exposed
    # to the machine's drift (other load comes and goes) than the ratio of the totals.
    paired = {
        "theme / bare": [t / b for t, b in zip(theme.round_rps(), bare.round_rps(), strict=True) if b],
        "overrides / theme": [o / t for o, t in zip(override.round_rps(), theme.round_rps(), strict=True) if t],
    }
    print("\nratios of req/s within each round (median, lowest-highest):")
    for label, values in paired.items():
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"  {label:<18} {median(values):.2f}  ({min(values):.2f}-{max(values):.2f})  rounds: {shown}")
    override_ratio = median(paired["overrides / theme"])
    checks = [
        (
            f"theme >= {TARGET_THEME_RATIO:.0%} of the bare view's req/s ({theme_ratio:.0%})",
            theme_ratio >= TARGET_THEME_RATIO,
        ),
        (f"theme p95 < {TARGET_THEME_P95_MS:.0f} ms ({theme_p95:.1f} ms)", theme_p95 < TARGET_THEME_P95_MS),
        (
            f"overrides at most 10% slower: >= {TARGET_OVERRIDE_RATIO:.0%} of the theme's req/s, median of the "
            f"rounds ({override_ratio:.0%}; overall {override.rps / theme.rps:.0%}; "
            f"p95 {p95(override.latencies) * 1000:.1f} vs {theme_p95:.1f} ms)",
            override_ratio >= TARGET_OVERRIDE_RATIO,
        ),
    ]
    return report_targets(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--warmup", type=float, default=9, help="seconds of unmeasured load, split over the views")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per view (default 20)")
    parser.add_argument("--rounds", type=int, default=8, help="the duration is split into this many alternating rounds")
    parser.add_argument("--products", type=int, default=60, help="products on sale per shop, one image each (60)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3, as the Helm chart)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (default 1: sync worker)")
    parser.add_argument("--profile", action="store_true", help="look inside a request even when the targets are met")
    parser.add_argument("--profile-requests", type=int, default=100, help="requests per view for that look")
    parser.add_argument("--db-name", default="fenxiao_bench_themes", help="throwaway database (dropped)")
    args = parser.parse_args()
    if args.clients < 1 or args.rounds < 1 or args.duration <= 0 or args.products < 6:
        parser.error("--clients, --rounds and --duration must be positive, --products at least 6")
    if importlib.util.find_spec("gunicorn") is None:
        parser.error("gunicorn is not installed: .venv/bin/pip install -r requirements/test.txt")

    import os

    total = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="bench-themes-") as tmp:
        os.environ["MEDIA_ROOT"] = str(Path(tmp) / "media")  # this process and gunicorn's
        with throwaway_django(args.db_name, settings_module=SETTINGS) as url:
            from django.core.management import call_command

            progress(f"database {args.db_name}: migrating the public schema and the shop template ...")
            call_command("migrate_all", verbosity=0)
            from themes.catalogue import ensure_builtin_themes

            ensure_builtin_themes()
            watch = Stopwatch()
            theme_host, _ = make_shop("benchtheme", args.products, overrides=False)
            override_host, _ = make_shop("benchcode", args.products, overrides=True)
            progress(
                f"shops {theme_host}, {override_host}: {args.products} products with images, "
                f"10 blocks on the home page, theme {THEME} ({watch():.1f}s)"
            )

            from django.test import Client

            response = Client(HTTP_HOST=theme_host, HTTP_ACCEPT="application/json").get("/api/v1/pages/home/")
            if response.status_code != 200:
                raise RuntimeError(f"page API: HTTP {response.status_code} {response.content[:300]!r}")
            payload = Path(tmp) / "bare.json"
            payload.write_bytes(response.content)
            from bench import urls_storefront

            urls_storefront.PAYLOAD = json.loads(response.content)  # for the in-process look

            from django.db import connections

            connections.close_all()
            port = free_port()
            log = Path(tmp) / "gunicorn.log"
            html = "text/html,application/xhtml+xml,*/*;q=0.8"
            views = [
                View("theme (allround)", theme_host, HOME_PATH, html),
                View("theme + overrides", override_host, HOME_PATH, html),
                View("bare view", theme_host, BARE_PATH, "application/json"),
            ]
            server = start_server(url, port, args.workers, args.threads, payload, log)
            try:
                wait_ready(server, port, log)
                check_pages(port, *views)
                progress(f"warm-up: {args.warmup:g} s, {args.clients} clients ...")
                for v in views:
                    v.run(port, args.clients, args.warmup / len(views))
                slice_s = args.duration / args.rounds
                for r in range(args.rounds):
                    order = views[r % len(views) :] + views[: r % len(views)]
                    for v in order if r % 2 == 0 else reversed(order):
                        phase = v.run(port, args.clients, slice_s)
                        v.phases.append(phase)
                        progress(
                            f"  round {r + 1}/{args.rounds} {v.name:<18} {len(phase.latencies) / slice_s:7.0f} req/s  "
                            f"p95 {p95(phase.latencies) * 1000 if phase.latencies else 0:6.1f} ms"
                        )
            finally:
                stop_server(server)
            met = report(views, args.clients, args.workers, args.threads)
            if not met or args.profile:
                profile(views, args.profile_requests)
    print(f"\nfinished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")


if __name__ == "__main__":
    main()
