"""Migrate the platform and every shop schema, fast at any number of shops.

1. the public schema (shared apps);
2. the template schema new shops are replayed from (Django's ``migrate``);
3. every shop and pooled schema that misses a migration: the missing migrations are
   compiled to SQL once per migration state and replayed in each schema in one round trip,
   over a few connections (``tenants.compiled``); plans that run Python (``RunPython``) or
   cannot be written as SQL, and any schema whose compiled script failed, get Django's
   ``migrate``, in parallel worker processes.

Schemas already current are found with a few catalog queries (no per-schema migrate
run), so a no-op run over thousands of shops takes seconds. Each schema commits on its
own: an interrupted or failed run is resumed by running the command again.
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

from tenants.compiled import (
    Group,
    Progress,
    ReplayResult,
    TemplateRun,
    compile_group,
    describe,
    group_by_state,
    migrate_template,
    replay,
)
from tenants.models import PooledSchema
from tenants.schemas import (
    TEMPLATE_SCHEMA,
    all_shop_schemas,
    applied_migrations,
    behind,
    expected_fingerprint,
    migrate_schema,
)


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
    help = (
        "Migrate the public schema, the shop template and every shop schema that is behind "
        "(compiled SQL replayed in parallel, Django's migrate where it cannot be compiled; resumable)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=settings.MIGRATE_WORKERS)
        parser.add_argument("--skip-public", action="store_true", help="shop schemas only")
        parser.add_argument("--check", action="store_true", help="exit 1 if any schema is behind; change nothing")
        parser.add_argument(
            "--no-compile", action="store_true", help="Django's migrate in every schema that is behind (slow)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        self.verbosity = int(options["verbosity"])
        if options["check"]:
            pending = behind(all_shop_schemas())
            self.stdout.write(f"{len(pending)} shop schema(s) behind")
            if pending:
                sys.exit(1)
            return
        if not options["skip_public"]:
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=max(0, self.verbosity - 1))
            from tenants.services import ensure_platform

            ensure_platform()
        step = time.perf_counter()
        template = migrate_template()
        self.stdout.write(f"template {TEMPLATE_SCHEMA} current ({time.perf_counter() - step:.1f}s)")
        from themes.catalogue import ensure_builtin_themes

        for published in ensure_builtin_themes():
            self.stdout.write(f"theme {published.theme.key} {published.version} published")
        failures: list[tuple[str, str]] = []
        attempted: set[str] = set()
        # Shops created while this runs (by processes still on the old code) are picked up
        # by the next round; a schema that failed is not retried in the same run.
        for _round in range(5):
            step = time.perf_counter()
            schemas = all_shop_schemas()
            pending = [s for s in behind(schemas) if s not in attempted]
            applied = applied_migrations(pending)
            if _round == 0 or pending:
                self.stdout.write(
                    f"{len(schemas)} shop schemas, {len(pending)} behind (read in {time.perf_counter() - step:.1f}s)"
                )
            if not pending:
                break
            attempted.update(pending)
            failures.extend(
                self._migrate(
                    pending, applied, options["workers"], compiled=not options["no_compile"], template=template
                )
            )
            template = None  # its recording holds for the first round only
        elapsed = time.perf_counter() - started
        if failures:
            for schema, error in failures:
                self.stderr.write(f"--- {schema}\n{error}")
            self.stderr.write(f"{len(failures)} schema(s) failed; fix and run again to resume ({elapsed:.1f}s)")
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"all shop schemas current ({elapsed:.1f}s)"))

    def _migrate(
        self,
        pending: list[str],
        applied: dict[str, set[tuple[str, str]]],
        workers: int,
        *,
        compiled: bool,
        template: TemplateRun | None,
    ) -> list[tuple[str, str]]:
        by_django: list[str] = []
        groups = group_by_state(applied, pending) if compiled else []
        if not compiled:
            by_django = list(pending)
        for n, group in enumerate(groups, start=1):
            size = len(group.schemas)
            step = time.perf_counter()
            if template is not None and frozenset(applied[group.schemas[0]]) == template.state:
                # the template was at this state: what its migration executed serves them all
                group.plan, group.script = template.group.plan, template.group.script
                group.statements, group.pilot = template.group.statements, TEMPLATE_SCHEMA
            else:
                compile_group(group)
            head = f"state {n}/{len(groups)}: {size} schema(s) miss {len(group.plan)} migration(s)"
            if not group.plan:  # nothing Django would apply (e.g. a migration removed from the code)
                self.stdout.write(f"{head}: nothing to apply")
                by_django += group.schemas
                continue
            if group.script is None:
                self.stdout.write(f"{head} ({describe(group.plan)}): {group.reason}: Django's migrate")
                by_django += group.schemas
                continue
            self.stdout.write(
                f"{head} ({describe(group.plan)}): compiled to {group.statements} statement(s) by Django's "
                f"migrate in {group.pilot} ({time.perf_counter() - step:.1f}s), replayed in "
                f"{len(group.schemas) if group.pilot == TEMPLATE_SCHEMA else f'{len(group.schemas)} more'} over "
                f"{max(1, min(workers, len(group.schemas)))} connection(s)"
            )
            self._mark_pool_current([group.pilot])
            result = self._replay(group, workers)
            self._mark_pool_current(result.done)
            by_django += list(result.failed)
        return self._django_migrate(by_django, workers)

    def _replay(self, group: Group, workers: int) -> ReplayResult:
        progress = Progress(self.stdout.write, len(group.schemas), "replayed")
        failed = [0]

        def report(done: int, schema: str, error: str | None) -> None:
            if error is not None:
                failed[0] += 1
                self.stdout.write(f"  {schema}: compiled script failed ({error.splitlines()[0]}); Django's migrate")
            elif self.verbosity >= 2:
                self.stdout.write(f"  {schema} ok")
            progress(done, failed[0])

        return replay(group, workers, report)

    def _mark_pool_current(self, schemas: list[str]) -> None:
        if schemas:
            PooledSchema.objects.filter(schema_name__in=schemas).update(fingerprint=expected_fingerprint())

    def _django_migrate(self, pending: list[str], workers: int) -> list[tuple[str, str]]:
        failures: list[tuple[str, str]] = []
        if pending:
            self.stdout.write(f"Django's migrate in {len(pending)} schema(s)")
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
            self._mark_pool_current([s for s in pending if s not in dict(failures)])
        return failures
