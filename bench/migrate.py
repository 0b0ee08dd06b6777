"""Tenant migrations over many shops: ``migrate_all`` against django-tenants' ``migrate_schemas``.

    .venv/bin/python bench/migrate.py [--shops 1000] [--peer-sample 100] [--peer-budget 150] [--repeats 3]

Runs in a throwaway database (``fenxiao_bench_migrate`` on the server of ``DATABASE_URL``,
default postgres://postgres@127.0.0.1:5432), dropped at the end. Two phases over the same
shops: a no-op run (every shop current) and a one-column migration (a nullable column
added to a table of a benchmark-only tenant app). Every command runs as a deploy runs it:
``manage.py …`` in a fresh process, default verbosity, timed from the outside. See
bench/README.md."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import benchapp  # noqa: E402
from bench._common import REPO, Stopwatch, fill_shops, median, progress, table, throwaway_django  # noqa: E402

NOOP_TARGET_S = 10.0
ONE_COLUMN_TARGET_S = 10.0
ONE_COLUMN_RATIO = 5.0
OURS = ["migrate_all", "--skip-public"]
PEERS = {
    "migrate_schemas (standard)": ["migrate_schemas", "--tenant", "--noinput", "--executor=standard"],
    "migrate_schemas (multiprocessing)": ["migrate_schemas", "--tenant", "--noinput", "--executor=multiprocessing"],
}


@dataclass
class Run:
    phase: str
    command: str
    schemas: int  # shop schemas the timed run covered
    seconds: float  # measured (median when repeated)
    at_n: float  # seconds for all N shops (measured, or extrapolated)
    extrapolated: bool
    note: str = ""


class Runner:
    def __init__(self, database_url: str, app_dir: Path, log_dir: Path) -> None:
        self.env = {**os.environ, "DATABASE_URL": database_url, "BENCH_APP_DIR": str(app_dir)}
        self.env.pop("BENCH_PEER_SAMPLE", None)
        self.log_dir = log_dir
        self.count = 0

    def __call__(self, args: list[str], sample: int | None = None) -> float:
        """Run ``manage.py <args>`` in a fresh process; return its wall time in seconds."""
        env = dict(self.env)
        if sample is not None:
            env["BENCH_PEER_SAMPLE"] = str(sample)
        self.count += 1
        log = self.log_dir / f"{self.count:02d}-{args[0]}.log"
        with log.open("w") as out:
            watch = Stopwatch()
            done = subprocess.run(
                [sys.executable, "manage.py", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            seconds = watch()
        if done.returncode != 0:
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"manage.py {' '.join(args)} failed (rc {done.returncode}):\n{tail}")
        return seconds


def shop_schemas() -> list[str]:
    from tenants.models import Tenant

    return list(
        Tenant.objects.exclude(schema_name="public").order_by("schema_name").values_list("schema_name", flat=True)
    )


def with_note(schemas: list[str], extra_tables: int) -> tuple[int, int]:
    """(schemas that recorded the one-column migration, schemas whose table has the column)."""
    from django.db import connection

    name = benchapp.note_migration_name(extra_tables)
    recorded = 0
    with connection.cursor() as cursor:
        for i in range(0, len(schemas), 200):
            part = schemas[i : i + 200]
            sql = " UNION ALL ".join(
                f"SELECT count(*) FROM \"{s}\".django_migrations WHERE app = '{benchapp.APP}' AND name = '{name}'"
                for s in part
            )
            cursor.execute(f"SELECT sum(count) FROM ({sql}) AS c")
            row = cursor.fetchone()
            recorded += int(row[0] or 0) if row else 0
        cursor.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = %s AND column_name = 'note' "
            "AND table_schema = ANY(%s)",
            [f"{benchapp.APP}_thing", schemas],
        )
        row = cursor.fetchone()
        columns = int(row[0]) if row else 0
    return recorded, columns


def reset_note(extra_tables: int) -> None:
    """Undo the one-column migration everywhere (untimed), by SQL: drop the column and its
    migration record in every shop schema and the template, and mark the template's replay
    script stale so the next ``migrate_all`` rebuilds it as a real deploy would."""
    from django.db import connection

    from tenants.models import SchemaTemplate
    from tenants.schemas import all_shop_schemas, q

    name = benchapp.note_migration_name(extra_tables)
    schemas = all_shop_schemas()
    with connection.cursor() as cursor:
        for i in range(0, len(schemas), 100):
            cursor.execute(
                "".join(
                    f'ALTER TABLE {q(s)}."{benchapp.APP}_thing" DROP COLUMN IF EXISTS note; '
                    f"DELETE FROM {q(s)}.django_migrations WHERE app = '{benchapp.APP}' AND name = '{name}'; "
                    for s in schemas[i : i + 100]
                )
            )
    SchemaTemplate.objects.update(fingerprint="stale")


def create_shops(n: int, jobs: int) -> None:
    fill_shops("m", n, jobs=jobs)


def peer_runs(run: Runner, phase: str, n: int, sample: int, budget: float, check: bool, extra_tables: int) -> list[Run]:
    """Each peer over all shops; or, when that would take longer than ``budget`` seconds
    (judged from a run on ``sample`` shops), over the sample, extrapolated to all."""

    def timed(label: str, args: list[str], limit: int | None, covered: int) -> float:
        seconds = run(args, sample=limit)
        if check:
            recorded, columns = with_note(shop_schemas(), extra_tables)
            if recorded != covered or columns != covered:
                raise RuntimeError(f"{label}: expected {covered} migrated shops, found {recorded} ({columns} columns)")
            reset_note(extra_tables)
        return seconds

    results = []
    for label, args in PEERS.items():
        if sample and sample < n:
            overhead = timed(label, args, 0, 0)
            measured = timed(label, args, sample, sample)
            estimate = overhead + (measured - overhead) * n / sample
            if estimate > budget:
                note = f"{sample} shops measured; fixed cost {overhead:.1f}s + per-shop cost x {n / sample:.0f}"
                progress(f"  {label:<36} {measured:8.1f}s over {sample} shops (~{estimate:.0f}s at {n})")
                results.append(Run(phase, label, sample, measured, estimate, True, note))
                continue
            progress(f"  {label:<36} ~{estimate:.0f}s expected at {n} shops: within budget, running on all")
        seconds = timed(label, args, None, n)
        progress(f"  {label:<36} {seconds:8.1f}s over {n} shops")
        results.append(Run(phase, label, n, seconds, seconds, False))
    return results


def report(runs: list[Run], n: int) -> None:
    headers = ["phase", "command", "shops run", "measured s", f"s for {n} shops", "peer / ours"]
    rows = []
    for phase in dict.fromkeys(r.phase for r in runs):
        group = [r for r in runs if r.phase == phase]
        ours = group[0]
        for r in group:
            rows.append(
                [
                    phase,
                    r.command,
                    str(r.schemas),
                    f"{r.seconds:.1f}",
                    ("~" if r.extrapolated else "") + f"{r.at_n:.1f}",
                    f"{r.at_n / ours.at_n:.1f}x" + (" (extrap.)" if r.extrapolated else ""),
                ]
            )
    print()
    print(table(headers, rows))
    notes = [f"  {r.command} ({r.phase}): {r.note}" for r in runs if r.note]
    if notes:
        print("\n~ = extrapolated from a sample (fixed cost measured with no shops, per-shop cost scaled):")
        print("\n".join(notes))
    noop = next(r for r in runs if r.phase == "no-op" and r.command.startswith("migrate_all"))
    verdict = "met" if noop.at_n < NOOP_TARGET_S else "MISSED"
    print(f"\ntarget: no-op run over {n} shops under {NOOP_TARGET_S:.0f}s: {verdict} ({noop.at_n:.1f}s)")
    one = [r for r in runs if r.phase == "one column"]
    if one:
        ours, multi = one[0], next(r for r in one if "multiprocessing" in r.command)
        ratio = multi.at_n / ours.at_n
        verdict = "met" if ours.at_n < ONE_COLUMN_TARGET_S and ratio >= ONE_COLUMN_RATIO else "MISSED"
        print(
            f"target: one-column migration over {n} shops under {ONE_COLUMN_TARGET_S:.0f}s and "
            f">= {ONE_COLUMN_RATIO:.0f}x migrate_schemas multiprocessing: {verdict} ({ours.at_n:.1f}s, {ratio:.1f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shops", type=int, default=1000, help="shops to migrate (default 1000)")
    parser.add_argument(
        "--peer-sample",
        type=int,
        default=100,
        help="when a migrate_schemas peer would exceed --peer-budget on all shops (judged from a run on "
        "this many), report it from this sample, extrapolated (default 100; 0 = always run on every shop)",
    )
    parser.add_argument(
        "--peer-budget", type=float, default=150.0, help="seconds a peer may take on all shops (default 150)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="no-op runs of ours (median; default 3)")
    parser.add_argument("--extra-tables", type=int, default=0, help="extra tables in the bench app (default 0)")
    parser.add_argument("--db-name", default="fenxiao_bench_migrate", help="throwaway database (dropped)")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="reuse --db-name if it exists (its m… shops count; bench/fill_shops.py) and keep it afterwards",
    )
    parser.add_argument("--jobs", type=int, default=2, help="connections creating the shops (default 2)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the commands' output (path printed)")
    args = parser.parse_args()
    if args.shops < 1 or args.repeats < 1:
        parser.error("--shops and --repeats must be at least 1")

    total = Stopwatch()
    work = Path(tempfile.mkdtemp(prefix="fenxiao-bench-migrate-"))
    app_dir, log_dir = work / "app", work / "logs"
    log_dir.mkdir(parents=True)
    benchapp.write_app(app_dir, extra_tables=args.extra_tables, add_column=False)
    os.environ["BENCH_APP_DIR"] = str(app_dir)
    try:
        with throwaway_django(args.db_name, settings_module="bench.settings_bench", keep=args.keep_db) as url:
            from django.core.management import call_command

            progress(f"database {args.db_name}: migrating the public schema and the shop template ...")
            call_command("migrate_all", verbosity=0)
            create_shops(args.shops, args.jobs)
            run = Runner(url, app_dir, log_dir)
            runs: list[Run] = []

            progress("\nno-op: every shop is current")
            times = [run(OURS) for _ in range(args.repeats)]
            progress(f"  {'migrate_all --skip-public':<36} {median(times):8.1f}s (median of {args.repeats})")
            runs.append(Run("no-op", "migrate_all --skip-public", args.shops, median(times), median(times), False))
            runs += peer_runs(run, "no-op", args.shops, args.peer_sample, args.peer_budget, False, args.extra_tables)

            progress("\none column: a nullable column added to one table of every shop")
            benchapp.write_app(app_dir, extra_tables=args.extra_tables, add_column=True)
            seconds = run(OURS)
            recorded, columns = with_note(shop_schemas(), args.extra_tables)
            if recorded != args.shops or columns != args.shops:
                raise RuntimeError(f"migrate_all: expected {args.shops} migrated shops, found {recorded} ({columns})")
            reset_note(args.extra_tables)
            progress(f"  {'migrate_all --skip-public':<36} {seconds:8.1f}s over {args.shops} shops")
            runs.append(Run("one column", "migrate_all --skip-public", args.shops, seconds, seconds, False))
            runs += peer_runs(
                run, "one column", args.shops, args.peer_sample, args.peer_budget, True, args.extra_tables
            )

            report(runs, args.shops)
            workers = os.environ.get("MIGRATE_WORKERS") or "max(2, cpus)"
            print(
                f"\nparallelism: migrate_all MIGRATE_WORKERS={workers}, multiprocessing executor "
                f"TENANT_MULTIPROCESSING_MAX_PROCESSES=2 (django-tenants' default); {os.cpu_count()} cpus."
                "\nall commands: `manage.py …` in a fresh process at default verbosity, wall time incl. start-up;"
                "\nmigrate_all also covers the template schema (and rebuilds its replay script after a change)."
            )
            print(f"\nfinished {time.strftime('%Y-%m-%d %H:%M:%S')}, {total():.0f}s in all")
    finally:
        if args.keep_logs:
            print(f"command logs kept in {log_dir}")
            shutil.rmtree(app_dir, ignore_errors=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
