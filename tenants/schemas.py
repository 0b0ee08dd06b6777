"""Shop schemas: the template, DDL replay, the warm pool, and migration state.

How a new shop gets its schema, fastest first:
1. **Pool hand-over**: a ready, fully migrated schema is renamed to the shop's schema
   name inside the signup transaction (``ALTER SCHEMA … RENAME``, under a millisecond).
2. **DDL replay** when the pool is empty: one multi-statement script, generated once per
   migration state from the template schema's catalog, creates every table, constraint,
   index and seed row (content types, permissions, migration records) in one round trip.
Neither runs the migration list. Only the template schema is ever migrated (at deploy,
by ``migrate_all``), and pooled schemas that fell behind are migrated by the pool refill
before they can be handed out.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from io import StringIO
from typing import Any, TextIO

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django_tenants.utils import get_public_schema_name, get_tenant_base_migrate_command_class

from platform_core.tenancy import use_public_schema, use_schema
from tenants.models import PooledSchema, SchemaTemplate

TEMPLATE_SCHEMA = "tpl_shops"
POOL_PREFIX = "pool_"
SHOP_PREFIX = "shop_"
_SCHEMA_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TEMPLATE_LOCK = 0x46584E01  # advisory lock id for template (re)builds


class SchemaError(RuntimeError):
    pass


def q(name: str) -> str:
    """Quote a schema name we generated ourselves (validated, never user input)."""
    if not _SCHEMA_RE.match(name):
        raise SchemaError(f"invalid schema name {name!r}")
    return f'"{name}"'


def schema_for_slug(slug: str) -> str:
    return SHOP_PREFIX + slug.replace("-", "_")


# --- migration state ----------------------------------------------------------------
def tenant_app_labels() -> set[str]:
    labels = set()
    for app in settings.TENANT_APPS:
        config = next(c for c in apps.get_app_configs() if c.name == app)
        labels.add(config.label)
    return labels


_expected: frozenset[tuple[str, str]] | None = None


def expected_migrations() -> frozenset[tuple[str, str]]:
    """Every migration a fully migrated shop schema has recorded."""
    global _expected
    if _expected is None:
        loader = MigrationLoader(None, ignore_no_migrations=True)
        labels = tenant_app_labels()
        _expected = frozenset(key for key in loader.graph.nodes if key[0] in labels)
    return _expected


def expected_fingerprint() -> str:
    text = "\n".join(f"{a}.{n}" for a, n in sorted(expected_migrations()))
    return hashlib.sha256(text.encode()).hexdigest()


def applied_migrations(schemas: Sequence[str], chunk: int = 200) -> dict[str, set[tuple[str, str]]]:
    """Applied migrations of many schemas, a few hundred schemas per query."""
    result: dict[str, set[tuple[str, str]]] = {s: set() for s in schemas}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'django_migrations' AND table_schema = ANY(%s)",
            [list(schemas)],
        )
        present = [row[0] for row in cursor.fetchall()]
        for i in range(0, len(present), chunk):
            part = present[i : i + chunk]
            sql = " UNION ALL ".join(f"SELECT '{s}', app, name FROM {q(s)}.django_migrations" for s in part)
            cursor.execute(sql)
            for schema, app, name in cursor.fetchall():
                result[schema].add((app, name))
    return result


def behind(schemas: Sequence[str]) -> list[str]:
    """The schemas missing at least one expected migration (order kept)."""
    expected = expected_migrations()
    applied = applied_migrations(schemas)
    return [s for s in schemas if not expected <= applied[s]]


def migrate_schema(schema: str, verbosity: int = 0, stdout: TextIO | None = None) -> None:
    """Apply the missing tenant migrations to one schema (only ever outside signup)."""
    use_schema(schema, include_public=False)
    try:
        MigrationRecorder(connection).ensure_schema()
        use_schema(schema)
        command = get_tenant_base_migrate_command_class()()
        call_command(
            command,
            verbosity=verbosity,
            interactive=False,
            stdout=stdout or StringIO(),
            skip_checks=True,
        )
    finally:
        use_public_schema()


def schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def all_shop_schemas() -> list[str]:
    """Every schema that holds shop tables: shops, the pool and the template."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'shop\\_%%' "
            "OR nspname LIKE 'pool\\_%%' OR nspname = %s ORDER BY nspname",
            [TEMPLATE_SCHEMA],
        )
        return [row[0] for row in cursor.fetchall()]


# --- the template and its replay script -----------------------------------------------
_script_cache: dict[str, str] = {}


def ensure_template(verbosity: int = 0, stdout: TextIO | None = None) -> str:
    """Make sure the template schema exists at the code's migration state.

    Normally a single indexed read. After a deploy with new migrations the first caller
    migrates the template (under an advisory lock) and rebuilds the replay script."""
    fingerprint = expected_fingerprint()
    if fingerprint in _script_cache:
        return _script_cache[fingerprint]
    row = SchemaTemplate.objects.filter(schema_name=TEMPLATE_SCHEMA).first()
    if row is None or row.fingerprint != fingerprint or not row.script or not schema_exists(TEMPLATE_SCHEMA):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_TEMPLATE_LOCK])
        try:
            row = SchemaTemplate.objects.filter(schema_name=TEMPLATE_SCHEMA).first()
            if row is None or row.fingerprint != fingerprint or not row.script or not schema_exists(TEMPLATE_SCHEMA):
                with connection.cursor() as cursor:
                    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {q(TEMPLATE_SCHEMA)}")
                migrate_schema(TEMPLATE_SCHEMA, verbosity=verbosity, stdout=stdout)
                if behind([TEMPLATE_SCHEMA]):
                    raise SchemaError("template schema is still behind after migrating it")
                script = build_replay_script(TEMPLATE_SCHEMA)
                row, _created = SchemaTemplate.objects.update_or_create(
                    schema_name=TEMPLATE_SCHEMA, defaults={"fingerprint": fingerprint, "script": script}
                )
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_TEMPLATE_LOCK])
    _script_cache.clear()
    _script_cache[fingerprint] = row.script
    return row.script


def _fetch(sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def build_replay_script(template: str) -> str:
    """Generate the DDL (and seed data) that recreates ``template`` under another name.

    The result uses the placeholder ``{schema}`` for the target schema and references the
    template for ``LIKE`` and seed rows. Tables keep their column order, defaults, identity
    columns and storage; constraints and indexes keep their names (later migrations refer
    to them by name). Object kinds we do not replay make this fail loudly."""
    tpl = q(template)
    unsupported = _fetch(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('v', 'm', 'f') "
        "UNION ALL SELECT t.tgname, 't' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal "
        "UNION ALL SELECT p.proname, 'p' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s "
        "UNION ALL SELECT c.relname, 'S' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'S' AND NOT EXISTS ("
        "  SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))",
        [template] * 4,
    )
    if unsupported:
        raise SchemaError(
            "the shop schema contains objects the DDL replay does not copy yet: "
            + ", ".join(f"{name} ({kind})" for name, kind in unsupported)
            + "; extend tenants.schemas.build_replay_script"
        )
    tables = [
        r[0]
        for r in _fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            [template],
        )
    ]
    statements = [
        f'CREATE TABLE {{schema}}."{t}" (LIKE {tpl}."{t}" INCLUDING DEFAULTS INCLUDING IDENTITY '
        f"INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)"
        for t in tables
    ]
    # Constraints by name: primary keys, uniques and exclusions first, foreign keys last.
    constraints = _fetch(
        "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid), con.contype "
        "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND con.contype IN ('p', 'u', 'x', 'c', 'f') "
        "ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 "
        "WHEN 'c' THEN 3 ELSE 4 END, c.relname, con.conname",
        [template],
    )
    prefix = f"{template}."
    for table, name, definition, _kind in constraints:
        definition = definition.replace(f"REFERENCES {prefix}", "REFERENCES {schema}.")
        statements.append(f'ALTER TABLE {{schema}}."{table}" ADD CONSTRAINT "{name}" {definition}')
    indexes = _fetch(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint con "
        "  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
        "  AND con.contype IN ('p', 'u', 'x')) ORDER BY c.relname",
        [template],
    )
    for (definition,) in indexes:
        definition = definition.replace(f" ON ONLY {prefix}", " ON ONLY {schema}.")
        definition = definition.replace(f" ON {prefix}", " ON {schema}.")
        statements.append(definition)
    # Seed rows written by migrations and post_migrate (migration records, content types,
    # permissions), with identity sequences moved past them.
    for table in tables:
        count = _fetch(f'SELECT count(*) FROM {tpl}."{table}"', [])[0][0]
        if not count:
            continue
        statements.append(f'INSERT INTO {{schema}}."{table}" OVERRIDING SYSTEM VALUE SELECT * FROM {tpl}."{table}"')
        identity = _fetch(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attidentity <> '' AND a.attnum > 0",
            [template, table],
        )
        for (column,) in identity:
            top = _fetch(f'SELECT max("{column}") FROM {tpl}."{table}"', [])[0][0]
            if top is not None:
                statements.append(
                    f"SELECT setval(pg_get_serial_sequence('{{schema}}.\"{table}\"', '{column}'), {int(top)})"
                )
    return ";\n".join(statements) + ";"


def replay_schema(schema: str) -> None:
    """Create ``schema`` from the template's DDL in one round trip (inside the caller's
    transaction: a rollback leaves nothing behind)."""
    script = ensure_template()
    sql = f"CREATE SCHEMA {q(schema)};\n" + script.replace("{schema}", q(schema))
    with connection.cursor() as cursor:
        cursor.execute(sql)


def rename_schema(old: str, new: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER SCHEMA {q(old)} RENAME TO {q(new)}")


def drop_schema(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {q(schema)} CASCADE")


# --- the pool -----------------------------------------------------------------------
def take_pooled_schema(schema: str) -> bool:
    """Inside the signup transaction: rename a ready pooled schema to ``schema``.

    ``SKIP LOCKED`` lets concurrent signups take different schemas without waiting.
    Returns False when no current schema is pooled (the caller replays instead)."""
    if not connection.in_atomic_block:
        raise SchemaError("take_pooled_schema must run inside the signup transaction")
    entry = (
        PooledSchema.objects.select_for_update(skip_locked=True)
        .filter(fingerprint=expected_fingerprint())
        .order_by("id")
        .first()
    )
    if entry is None:
        return False
    rename_schema(entry.schema_name, schema)
    entry.delete()
    return True


def refill_pool(target: int | None = None) -> dict[str, int]:
    """Bring pooled schemas up to date and top the pool up to ``target`` ready schemas."""
    target = settings.SCHEMA_POOL_SIZE if target is None else target
    ensure_template()
    fingerprint = expected_fingerprint()
    upgraded = created = 0
    stale = list(PooledSchema.objects.exclude(fingerprint=fingerprint).values_list("id", "schema_name"))
    for pk, name in stale:
        with transaction.atomic():
            entry = PooledSchema.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if entry is None:
                continue
            if not schema_exists(name):
                entry.delete()
                continue
        migrate_schema(name)
        if not behind([name]):
            PooledSchema.objects.filter(pk=pk).update(fingerprint=fingerprint)
            upgraded += 1
    ready = PooledSchema.objects.filter(fingerprint=fingerprint).count()
    for _ in range(max(0, target - ready)):
        name = POOL_PREFIX + secrets.token_hex(6)
        with transaction.atomic():
            replay_schema(name)
            PooledSchema.objects.create(schema_name=name, fingerprint=fingerprint)
        created += 1
    return {"ready": ready + created, "created": created, "upgraded": upgraded}


def public_schema() -> str:
    return get_public_schema_name()
