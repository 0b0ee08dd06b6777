"""Signup -> live shop: our pool hand-over and DDL replay against django-tenants' own paths.

    .venv/bin/python bench/provisioning.py [--shops 1000] [--samples 15] [--extra-tables 0]

Runs in a throwaway database (``fenxiao_bench_provisioning`` on the server of
``DATABASE_URL``, default postgres://postgres@127.0.0.1:5432), dropped at the end. Each
path is measured with few shops present and again after filling up to ``--shops`` shops;
see bench/README.md for what is compared and how."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import benchapp  # noqa: E402
from bench._common import Stopwatch, fill_shops, median, p95, progress, table, throwaway_django  # noqa: E402

PASSWORD = "bench-Password-4711"  # hashed with the project's hasher (Argon2id) when timed
TARGET_POOL_MS = 20.0  # DESIGN.md, "Performance targets": at 10,000 shops
TARGET_COLD_MS = 300.0
TARGET_RATIO = 20.0


@dataclass
class Series:
    path: str
    shops_present: int
    transaction: list[float] = field(default_factory=list)  # seconds
    whole: list[float] = field(default_factory=list)  # seconds


class Shops:
    """Hands out unique shop slugs and counts the shops created."""

    def __init__(self, tag: str = "") -> None:
        self.count = 0
        self.tag = tag  # unique per run when the database is reused (--keep-db)

    def next(self, prefix: str) -> tuple[str, str, str]:
        self.count += 1
        slug = f"{prefix}{self.tag}{self.count:05d}"
        return slug, f"Bench shop {slug}", f"owner@{slug}.bench.test"


def ours(shops: Shops, prefix: str, expect: str) -> tuple[float, float]:
    """shop_signup as the signup view calls it: hashes the password, then one transaction."""
    from tenants.services import shop_signup

    slug, name, email = shops.next(prefix)
    watch = Stopwatch()
    result = shop_signup(name=name, slug=slug, email=email, password=PASSWORD, tier="standard")
    whole = watch()
    if result.source != expect:
        raise RuntimeError(f"expected a {expect} signup, got {result.source}")
    return result.seconds, whole


def peer(shops: Shops, prefix: str) -> tuple[float, float]:
    """django-tenants' own provisioning: ``Tenant.save()`` with ``auto_create_schema``.

    Without TENANT_BASE_SCHEMA that is CREATE SCHEMA + ``migrate_schemas --schema`` (the
    default path); with it (see ``clone_settings``) it is ``clone_schema()`` of the
    template followed by ``migrate_schemas --fake`` (the clone path). Then the same rows
    our signup writes: the primary domain and the owner in the shop's schema."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django_tenants.utils import schema_context

    from tenants.models import Domain, Tenant
    from tenants.schemas import schema_for_slug
    from tenants.services import shop_host

    slug, name, email = shops.next(prefix)
    watch = Stopwatch()
    password_hash = make_password(PASSWORD)
    hashed = watch()
    schema = schema_for_slug(slug)
    tenant = Tenant(
        schema_name=schema,
        name=name,
        slug=slug,
        tier="standard",
        owner_email=email,
        locale=settings.LANGUAGE_CODE,
    )
    tenant.auto_create_schema = True  # what a stock django-tenants TenantMixin does
    tenant.save(verbosity=0)
    Domain.objects.create(domain=shop_host(tenant), tenant=tenant, is_primary=True)
    with schema_context(schema):
        get_user_model().objects.create(email=email, password=password_hash, is_staff=True, is_owner=True, name=name)
    whole = watch()
    return whole - hashed, whole


def fill(target: int, jobs: int) -> None:
    """Create filler shops (our replay path, cheap MD5 password) until ``target`` exist."""
    from tenants.models import Tenant

    present = Tenant.objects.exclude(schema_name="public").exclude(slug__startswith="m").count()
    fill_shops("m", max(0, target - present), jobs=jobs)


def measure(
    name: str, shops_present: int, samples: int, run: Callable[[], tuple[float, float]], before: Callable[[], None]
) -> Series:
    before()
    run()  # warm-up (connection, caches, the clone function); its shop is not timed
    series = Series(name, shops_present)
    for _ in range(samples):
        txn, whole = run()
        series.transaction.append(txn)
        series.whole.append(whole)
    progress(f"  {name:<28} median {median(series.transaction) * 1000:8.1f} ms ({samples} samples)")
    return series


def run_level(shops: Shops, samples: int) -> list[Series]:
    from django.test import override_settings

    from tenants.models import PooledSchema, Tenant
    from tenants.schemas import TEMPLATE_SCHEMA, refill_pool

    present = Tenant.objects.exclude(schema_name="public").count()
    progress(f"-- {present} shops present")

    def fill_pool() -> None:
        refill_pool(target=samples + 1)

    def empty_pool() -> None:
        if PooledSchema.objects.exists():
            raise RuntimeError("the pool should be empty for the cold path")

    def nothing() -> None:
        pass

    results = [
        measure("ours: pool hand-over", present, samples, lambda: ours(shops, "pool", "pool"), fill_pool),
        measure("ours: cold (DDL replay)", present, samples, lambda: ours(shops, "cold", "replay"), empty_pool),
        measure("django-tenants default", present, samples, lambda: peer(shops, "dflt"), nothing),
    ]
    clone_settings = override_settings(TENANT_CREATION_FAKES_MIGRATIONS=True, TENANT_BASE_SCHEMA=TEMPLATE_SCHEMA)
    with clone_settings:
        results.append(measure("django-tenants clone", present, samples, lambda: peer(shops, "clon"), nothing))
    return results


def report(levels: list[list[Series]]) -> None:
    headers = [
        "path",
        "shops",
        "txn median ms",
        "txn p95 ms",
        "whole median ms",
        "whole p95 ms",
        "x faster than default (txn)",
        "(whole)",
    ]
    rows = []
    for level in levels:
        default = next(s for s in level if s.path == "django-tenants default")
        for s in level:
            rows.append(
                [
                    s.path,
                    str(s.shops_present),
                    f"{median(s.transaction) * 1000:.1f}",
                    f"{p95(s.transaction) * 1000:.1f}",
                    f"{median(s.whole) * 1000:.1f}",
                    f"{p95(s.whole) * 1000:.1f}",
                    f"{median(default.transaction) / median(s.transaction):.1f}x",
                    f"{median(default.whole) / median(s.whole):.1f}x",
                ]
            )
    print()
    print(table(headers, rows))
    print(
        "\ntxn   = provisioning only: schema + shop row + domain + owner row (for ours, SignupResult.seconds:"
        "\n        the signup transaction; for the peers the same work after the password is hashed)."
        "\nwhole = the whole call, including the owner's password hash (Argon2id, the project's hasher) that"
        "\n        every path pays once (the pool refill runs after a signup, never inside it)."
        "\nshops = shops present when the series started (each series adds samples + 1 shops)."
    )
    last = levels[-1]
    pool = next(s for s in last if s.path.startswith("ours: pool"))
    cold = next(s for s in last if s.path.startswith("ours: cold"))
    default = next(s for s in last if s.path == "django-tenants default")
    checks = [
        (f"pool median < {TARGET_POOL_MS:.0f} ms", median(pool.transaction) * 1000 < TARGET_POOL_MS),
        (f"cold median < {TARGET_COLD_MS:.0f} ms", median(cold.transaction) * 1000 < TARGET_COLD_MS),
        (
            f"pool >= {TARGET_RATIO:.0f}x default (txn)",
            median(default.transaction) / median(pool.transaction) >= TARGET_RATIO,
        ),
    ]
    print(f"\ntargets at {pool.shops_present} shops present:")
    for label, ok in checks:
        print(f"  {'met    ' if ok else 'MISSED '} {label}")
    ratio = median(default.transaction) / median(cold.transaction)
    print(f"  (info) cold is {ratio:.1f}x the default path; the 20x target is the pool's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shops", type=int, default=1000, help="shops present for the second round (default 1000)")
    parser.add_argument("--samples", type=int, default=15, help="timed signups per path and round (default 15)")
    parser.add_argument("--db-name", default="fenxiao_bench_provisioning", help="throwaway database (dropped)")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="reuse --db-name with its shops (bench/fill_shops.py) and keep it; the round with no shops is skipped",
    )
    parser.add_argument("--jobs", type=int, default=2, help="connections creating filler shops (default 2)")
    parser.add_argument(
        "--extra-tables",
        type=int,
        default=0,
        help="add a benchmark-only tenant app with this many more tables, one migration each "
        "(default 0: the shop schema as the code defines it today)",
    )
    args = parser.parse_args()
    if args.samples < 1:
        parser.error("--samples must be at least 1")

    total = Stopwatch()
    settings_module = "platform_core.settings"
    app_dir: Path | None = None
    if args.extra_tables > 0 or args.keep_db:  # a filled database holds the bench app (fill_shops.py)
        app_dir = Path(tempfile.mkdtemp(prefix="fenxiao-bench-provisioning-"))
        benchapp.write_app(app_dir, extra_tables=args.extra_tables)
        os.environ["BENCH_APP_DIR"] = str(app_dir)
        settings_module = "bench.settings_bench"
    try:
        _run(args, settings_module, total)
    finally:
        if app_dir is not None:
            shutil.rmtree(app_dir, ignore_errors=True)


def _run(args: argparse.Namespace, settings_module: str, total: Stopwatch) -> None:
    with throwaway_django(args.db_name, settings_module=settings_module, keep=args.keep_db):
        from django.core.management import call_command
        from django.db import connection

        from tenants.schemas import TEMPLATE_SCHEMA

        progress(f"database {args.db_name}: migrating the public schema and the shop template ...")
        call_command("migrate_all", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
                [TEMPLATE_SCHEMA],
            )
            row = cursor.fetchone()
        tables = row[0] if row else 0
        progress(f"a shop schema has {tables} tables; its migration list: {_tenant_migration_count()} migrations")
        shops = Shops(tag=format(int(time.time()) % 46656, "03x")[-3:] if args.keep_db else "")
        levels = [] if args.keep_db else [run_level(shops, args.samples)]
        if args.shops > 0:
            fill(args.shops, args.jobs)
            levels.append(run_level(shops, args.samples))
        report(levels)
        print(f"\nfinished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")


def _tenant_migration_count() -> int:
    from tenants.schemas import expected_migrations

    return len(expected_migrations())


if __name__ == "__main__":
    main()
