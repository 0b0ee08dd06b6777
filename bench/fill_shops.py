"""Fill a benchmark database with shops, once, for the 10,000-shop runs.

    .venv/bin/python bench/fill_shops.py --db-name fenxiao_bench_10k --shops 10000 [--jobs 3] [--nice 10]

Creates (or extends: resumable) ``--db-name`` with the platform, the shop template and
shops ``m00000``… made by ``shop_signup()`` (DDL replay, cheap MD5 password) over
``--jobs`` connections whose PostgreSQL backends run at ``--nice`` priority. The schema set
includes the benchmark-only tenant app at its migration 0001 (``benchapp.py``), as
``bench/migrate.py`` expects. The database is kept: run the benchmarks on it with
``--db-name fenxiao_bench_10k --keep-db``, then drop it (``--drop``)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import benchapp  # noqa: E402
from bench._common import Stopwatch, bench_database_url, drop_database, fill_shops, progress, throwaway_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-name", default="fenxiao_bench_10k")
    parser.add_argument("--shops", type=int, default=10000)
    parser.add_argument("--jobs", type=int, default=3, help="connections creating shops (default 3)")
    parser.add_argument("--nice", type=int, default=10, help="CPU niceness of their PostgreSQL backends (default 10)")
    parser.add_argument("--drop", action="store_true", help="drop the database and stop")
    args = parser.parse_args()
    if args.drop:
        drop_database(bench_database_url(args.db_name))
        print(f"dropped database {args.db_name}")
        return
    watch = Stopwatch()
    app_dir = Path(tempfile.mkdtemp(prefix="fenxiao-bench-fill-"))
    benchapp.write_app(app_dir, add_column=False)
    os.environ["BENCH_APP_DIR"] = str(app_dir)
    try:
        with throwaway_django(args.db_name, settings_module="bench.settings_bench", keep=True):
            from django.core.management import call_command

            call_command("migrate_all", verbosity=0)
            fill_shops("m", args.shops, jobs=args.jobs, nice=args.nice)
            from tenants.models import Tenant

            progress(f"{Tenant.objects.exclude(schema_name='public').count()} shops in {args.db_name} ({watch():.0f}s)")
    finally:
        shutil.rmtree(app_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
