"""Compiled tenant migrations: Django's migration SQL, made once per migration state and
replayed in every shop schema in one round trip.

A deploy over thousands of shops cannot afford Django's ``migrate`` per schema (process
start, graph, state rendering and a dozen catalog queries per schema: ~70 ms each before
any DDL). Every shop schema at the same migration state receives the same statements, so:

1. the schemas that miss a migration are grouped by the migrations they have recorded
   (one group per migration state; normally one);
2. per group, Django's ``migrate`` runs in one schema of the group (the pilot) while the
   statements its schema editor executes are recorded: that is the compiled SQL (what
   ``sqlmigrate`` prints, but with the catalog look-ups of a real run). The migration
   records and the content types and permissions the pilot lacked against the migrated
   template (what ``post_migrate`` adds) are appended as literal rows;
3. each schema of the group gets ``BEGIN; SET LOCAL search_path …; <statements>; COMMIT``
   as one message, over a few connections in parallel. A schema commits all of its plan or
   nothing, so a run that stops half-way is resumed by running it again.

Not compiled (Django's ``migrate`` runs instead, per schema): plans with a migration that
runs Python (``RunPython``), a non-atomic migration (``CREATE INDEX CONCURRENTLY``),
anything the schema editor cannot write as SQL, and any schema whose compiled script
failed (e.g. it was not quite at the group's state)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.special import SeparateDatabaseAndState

from platform_core.tenancy import use_public_schema, use_schema
from tenants.models import SchemaTemplate
from tenants.schemas import (
    TEMPLATE_SCHEMA,
    applied_migrations,
    behind,
    ensure_template,
    expected_fingerprint,
    migrate_schema,
    q,
    schema_exists,
)

# A connection is replaced after this many schemas: a backend keeps catalog entries of
# every relation it touched, and a deploy touches every shop.
SCHEMAS_PER_CONNECTION = 200
LOCK_TIMEOUT = "5s"  # a shop table busy for longer fails over to Django's migrate (which waits)


@dataclass
class Group:
    """Schemas at one migration state and what brings them to the current one."""

    schemas: list[str]
    plan: list[tuple[str, str]] = field(default_factory=list)
    script: str | None = None  # the compiled body (without BEGIN / search_path / COMMIT)
    statements: int = 0
    reason: str = ""  # why it is not compiled (Django's migrate runs instead)
    pilot: str = ""  # the schema Django's migrate ran in while the SQL was recorded


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_only(operation: Operation) -> bool:
    if isinstance(operation, SeparateDatabaseAndState):
        return all(_sql_only(op) for op in operation.database_operations)
    return bool(operation.reduces_to_sql)


def not_compilable(migration: Migration) -> str:
    """Why ``migration`` cannot be replayed as SQL ('' when it can)."""
    if not migration.atomic:
        return f"{migration.app_label}.{migration.name} is not atomic"
    for operation in migration.operations:
        if not _sql_only(operation):
            return f"{migration.app_label}.{migration.name} runs Python ({type(operation).__name__})"
    return ""


def group_by_state(applied: dict[str, set[tuple[str, str]]], schemas: Iterable[str]) -> list[Group]:
    by_state: dict[frozenset[tuple[str, str]], list[str]] = defaultdict(list)
    for schema in schemas:
        by_state[frozenset(applied[schema])].append(schema)
    return [Group(schemas=members) for members in sorted(by_state.values(), key=len, reverse=True)]


SeedRows = tuple[set[tuple[str, str]], set[tuple[str, str, str, str]]]


def _seed_rows(schema: str) -> SeedRows:
    """Content types and permissions of ``schema`` (what ``post_migrate`` made there)."""
    t = q(schema)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT app_label, model FROM {t}.django_content_type")
        types = {(r[0], r[1]) for r in cursor.fetchall()}
        cursor.execute(
            f"SELECT ct.app_label, ct.model, p.name, p.codename FROM {t}.auth_permission p "
            f"JOIN {t}.django_content_type ct ON ct.id = p.content_type_id"
        )
        perms = {(r[0], r[1], r[2], r[3]) for r in cursor.fetchall()}
    return types, perms


def _seed_sql(target: SeedRows, have: SeedRows) -> list[str]:
    """Statements adding the content types and permissions of ``target`` missing in ``have``."""
    new_types = sorted(target[0] - have[0])
    have_perms = {(a, m, c) for a, m, _n, c in have[1]}
    new_perms = sorted(p for p in target[1] if (p[0], p[1], p[3]) not in have_perms)
    out = []
    if new_types:
        values = ", ".join(f"({_literal(a)}, {_literal(m)})" for a, m in new_types)
        out.append(f"INSERT INTO django_content_type (app_label, model) VALUES {values} ON CONFLICT DO NOTHING")
    if new_perms:
        values = ", ".join(f"({', '.join(_literal(v) for v in row)})" for row in new_perms)
        out.append(
            "INSERT INTO auth_permission (name, content_type_id, codename) "
            f"SELECT v.name, ct.id, v.codename FROM (VALUES {values}) AS v(app_label, model, name, codename) "
            "JOIN django_content_type ct ON ct.app_label = v.app_label AND ct.model = v.model "
            "ON CONFLICT DO NOTHING"
        )
    return out


@contextmanager
def capture_ddl() -> Iterator[list[str]]:
    """Every statement the schema editor executes meanwhile (DDL and ``RunSQL``), as run."""
    captured: list[str] = []
    original = BaseDatabaseSchemaEditor.execute

    def execute(self: BaseDatabaseSchemaEditor, sql: Any, params: Any = ()) -> Any:
        # PostgreSQL's editor merges parameters before it gets here; else as collect_sql does
        text = str(sql) if params is None else str(sql) % tuple(map(self.quote_value, params))
        captured.append(text)
        return original(self, sql, params)

    BaseDatabaseSchemaEditor.execute = execute  # type: ignore[method-assign]
    try:
        yield captured
    finally:
        BaseDatabaseSchemaEditor.execute = original  # type: ignore[method-assign]


def _plan(schema: str) -> tuple[list[Migration], str]:
    """What Django's ``migrate`` would apply in ``schema`` now, and why it cannot be
    compiled ('' when it can)."""
    use_schema(schema)
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    finally:
        use_public_schema()
    if any(backwards for _m, backwards in plan):
        return [m for m, _b in plan], "the plan unapplies migrations"
    migrations = [m for m, _backwards in plan]
    for migration in migrations:
        reason = not_compilable(migration)
        if reason:
            return migrations, reason
    return migrations, ""


def _finish(group: Group, plan: list[Migration], captured: list[str], seed: list[str]) -> None:
    """The group's script: a guard, the recorded statements, the records, the seed rows."""
    statements = [s.strip().rstrip(";") for s in captured]
    statements = [s for s in statements if s]
    records = []
    for migration in plan:
        names = [*migration.replaces, (migration.app_label, migration.name)]
        records += [f"({_literal(a)}, {_literal(n)}, now())" for a, n in names]
    keys = ", ".join(f"({_literal(a)}, {_literal(n)})" for a, n in group.plan)
    # Another process (a pool refill, a second deploy) may have migrated the schema since
    # it was read: then the script fails and Django's migrate decides what is left.
    guard = (
        "DO $fxguard$ BEGIN IF EXISTS (SELECT 1 FROM django_migrations WHERE (app, name) IN "
        f"({keys})) THEN RAISE EXCEPTION 'fenxiao: schema migrated meanwhile'; END IF; END $fxguard$"
    )
    body = [
        "LOCK TABLE django_migrations IN SHARE ROW EXCLUSIVE MODE",
        guard,
        *statements,
        f"INSERT INTO django_migrations (app, name, applied) VALUES {', '.join(records)}",
        *seed,
    ]
    group.statements = len(statements)
    group.script = ";\n".join(body) + ";"


def compile_group(group: Group) -> None:
    """Fill in ``group.plan`` and, when every migration of it is plain SQL, ``group.script``.

    The group's first schema (the pilot) is migrated by Django's ``migrate`` itself while
    the statements its schema editor executes are recorded: the plan, the SQL and the
    catalog the operations looked at (constraint names, sequences) are exactly Django's
    for that state, and the SQL has run once before it runs everywhere. On success the
    pilot is dropped from ``group.schemas``; if it fails the group gets Django's migrate."""
    pilot = group.schemas[0]
    plan, reason = _plan(pilot)
    group.plan = [(m.app_label, m.name) for m in plan]
    if not plan or reason:
        group.reason = reason
        return
    have = _seed_rows(pilot)
    try:
        with capture_ddl() as captured:
            migrate_schema(pilot)
    except Exception as exc:  # noqa: BLE001 - the whole group gets Django's migrate (and its verdict)
        group.reason = f"{pilot} failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]})"
        return
    _finish(group, plan, captured, _seed_sql(_seed_rows(TEMPLATE_SCHEMA), have))
    group.pilot = pilot
    group.schemas = group.schemas[1:]


@dataclass
class TemplateRun:
    """The template's own migration at this deploy, recorded: the shops that were at the
    template's former state replay it without a pilot of their own."""

    state: frozenset[tuple[str, str]]
    group: Group


def migrate_template() -> TemplateRun | None:
    """``ensure_template()``; when the template had migrations to apply and they compile,
    what its schema editor executed, as a script for the shops at its former state."""
    fingerprint = expected_fingerprint()
    current = SchemaTemplate.objects.filter(schema_name=TEMPLATE_SCHEMA, fingerprint=fingerprint).exclude(script="")
    if current.exists() or not schema_exists(TEMPLATE_SCHEMA):
        ensure_template()
        return None
    state = frozenset(applied_migrations([TEMPLATE_SCHEMA])[TEMPLATE_SCHEMA])
    plan, reason = _plan(TEMPLATE_SCHEMA)
    have = _seed_rows(TEMPLATE_SCHEMA)
    with capture_ddl() as captured:
        ensure_template()
    if not plan or reason or behind([TEMPLATE_SCHEMA]):
        return None
    group = Group(schemas=[], plan=[(m.app_label, m.name) for m in plan], pilot=TEMPLATE_SCHEMA)
    _finish(group, plan, captured, _seed_sql(_seed_rows(TEMPLATE_SCHEMA), have))
    return TemplateRun(state=state, group=group)


def schema_script(group: Group, schema: str) -> str:
    assert group.script is not None
    return (
        f"BEGIN; SET LOCAL search_path = {q(schema)}, public; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';\n"
        f"{group.script}\nCOMMIT;"
    )


@dataclass
class ReplayResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # schema -> error (Django's migrate retries it)


def replay(
    group: Group,
    workers: int,
    on_progress: Callable[[int, str, str | None], None] | None = None,
) -> ReplayResult:
    """Run the group's compiled script in each of its schemas over ``workers`` connections."""
    result = ReplayResult()
    todo = list(group.schemas)
    lock = threading.Lock()
    counter = [0]

    def next_schema() -> str | None:
        with lock:
            return todo.pop(0) if todo else None

    def work() -> None:
        raw: Any = None
        used = 0
        try:
            while (schema := next_schema()) is not None:
                if raw is None or used >= SCHEMAS_PER_CONNECTION:
                    if raw is not None:
                        raw.close()
                    raw = connection.get_new_connection(connection.get_connection_params())
                    raw.autocommit = True
                    used = 0
                used += 1
                error: str | None = None
                try:
                    with raw.cursor() as cursor:
                        cursor.execute(schema_script(group, schema))
                except Exception as exc:  # noqa: BLE001 - this schema goes to Django's migrate
                    error = f"{type(exc).__name__}: {exc}".strip()
                    try:
                        raw.rollback()
                        with raw.cursor() as cursor:
                            cursor.execute("ROLLBACK")
                    except Exception:  # noqa: BLE001 - a broken connection is replaced
                        raw.close()
                        raw = None
                with lock:
                    counter[0] += 1
                    if error is None:
                        result.done.append(schema)
                    else:
                        result.failed[schema] = error
                    if on_progress is not None:
                        on_progress(counter[0], schema, error)
        finally:
            if raw is not None:
                raw.close()

    threads = [threading.Thread(target=work, name=f"migrate-{i}") for i in range(max(1, min(workers, len(todo))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


class Progress:
    """A line every ``interval`` seconds (and at the end), not one per schema."""

    def __init__(self, write: Callable[[str], None], total: int, label: str, interval: float = 2.0) -> None:
        self.write, self.total, self.label, self.interval = write, total, label, interval
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, failed: int = 0) -> None:
        now = time.perf_counter()
        if done == self.total or now - self.last >= self.interval:
            self.last = now
            extra = f", {failed} to Django's migrate" if failed else ""
            self.write(f"  {self.label}: {done}/{self.total} ({now - self.started:.1f}s{extra})")


def describe(plan: Sequence[tuple[str, str]], limit: int = 4) -> str:
    names = [f"{a}.{n}" for a, n in plan]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
