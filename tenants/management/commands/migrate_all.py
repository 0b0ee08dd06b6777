"""Migrate the platform and every shop schema, fast at any number of shops.

1. the public schema (shared apps);
2. the template schema new shops are replayed from;
3. every shop and pooled schema that misses a migration, in parallel worker processes.

Schemas already current are found with a few catalog queries (no per-schema migrate
run), so a no-op run over thousands of shops takes seconds. Each schema's migrations
commit as they go: an interrupted run is resumed by running the command again.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from tenants.schemas import all_shop_schemas, behind, ensure_template, migrate_schema


def _init_worker() -> None:
    connections.close_all()


def _migrate_one(schema: str) -> tuple[str, float, str | None]:
    started = time.perf_counter()
    try:
        migrate_schema(schema)
        return schema, time.perf_counter() - started, None
    except Exception:  # noqa: BLE001 - reported per schema, the run goes on
        return schema, time.perf_counter() - started, traceback.format_exc()
    finally:
        # A backend caches catalog entries of every schema it touches (~1.6 MB each):
        # a fresh connection per schema keeps a worker's memory flat over thousands of shops.
        connections.close_all()


class Command(BaseCommand):
    help = "Migrate the public schema, the shop template and every shop schema that is behind (parallel, resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=settings.MIGRATE_WORKERS)
        parser.add_argument("--skip-public", action="store_true", help="shop schemas only")
        parser.add_argument("--check", action="store_true", help="exit 1 if any schema is behind; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        verbosity = int(options["verbosity"])
        if options["check"]:
            pending = behind(all_shop_schemas())
            self.stdout.write(f"{len(pending)} shop schema(s) behind")
            if pending:
                sys.exit(1)
            return
        if not options["skip_public"]:
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=max(0, verbosity - 1))
            from tenants.services import ensure_platform

            ensure_platform()
        ensure_template()
        from themes.catalogue import ensure_builtin_themes

        for published in ensure_builtin_themes():
            self.stdout.write(f"theme {published.theme.key} {published.version} published")
        failures: list[tuple[str, str]] = []
        attempted: set[str] = set()
        # Shops created while this runs (by processes still on the old code) are picked up
        # by the next round; a schema that failed is not retried in the same run.
        for _round in range(5):
            schemas = all_shop_schemas()
            pending = [s for s in behind(schemas) if s not in attempted]
            if _round == 0 or pending:
                self.stdout.write(f"{len(schemas)} shop schemas, {len(pending)} behind")
            if not pending:
                break
            attempted.update(pending)
            failures.extend(self._migrate(pending, options["workers"]))
        elapsed = time.perf_counter() - started
        if failures:
            for schema, error in failures:
                self.stderr.write(f"--- {schema}\n{error}")
            self.stderr.write(f"{len(failures)} schema(s) failed; fix and run again to resume ({elapsed:.1f}s)")
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"all shop schemas current ({elapsed:.1f}s)"))

    def _migrate(self, pending: list[str], workers: int) -> list[tuple[str, str]]:
        failures: list[tuple[str, str]] = []
        if pending:
            connections.close_all()
            workers = max(1, min(workers, len(pending)))
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
                futures = [pool.submit(_migrate_one, s) for s in pending]
                for done, future in enumerate(as_completed(futures), start=1):
                    schema, seconds, error = future.result()
                    status = "ok" if error is None else "FAILED"
                    self.stdout.write(f"[{done}/{len(pending)}] {schema} {status} ({seconds:.2f}s)")
                    if error:
                        failures.append((schema, error))
        return failures
