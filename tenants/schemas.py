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
import json
import logging
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

log = logging.getLogger(__name__)

TEMPLATE_SCHEMA = "tpl_shops"
POOL_PREFIX = "pool_"
SHOP_PREFIX = "shop_"
_SCHEMA_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TEMPLATE_LOCK = 0x46584E01  # advisory lock id for template (re)builds
_POOL_LOCK = 0x46584E02  # advisory lock id for pool refills


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


# Which of these schemas have a django_migrations table: by pg_class's (relname, namespace)
# index. (information_schema.tables checks privileges on every relation of the catalog: with
# 10,000 shops, millions of rows, that alone took seconds.)
_WITH_RECORDS = (
    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)"
)


def applied_migrations(schemas: Sequence[str], chunk: int = 200) -> dict[str, set[tuple[str, str]]]:
    """Applied migrations of many schemas, a few hundred schemas per query."""
    result: dict[str, set[tuple[str, str]]] = {s: set() for s in schemas}
    with connection.cursor() as cursor:
        cursor.execute(_WITH_RECORDS, [list(schemas)])
        present = [row[0] for row in cursor.fetchall()]
        for i in range(0, len(present), chunk):
            part = present[i : i + chunk]
            sql = " UNION ALL ".join(f"SELECT '{s}', app, name FROM {q(s)}.django_migrations" for s in part)
            cursor.execute(sql)
            for schema, app, name in cursor.fetchall():
                result[schema].add((app, name))
    return result


def _records_digest(records: Iterable[tuple[str, str]]) -> str:
    return hashlib.md5(",".join(sorted(f"{a}.{n}" for a, n in records)).encode()).hexdigest()  # noqa: S324 - not security


def current_schemas(schemas: Sequence[str], chunk: int = 500) -> set[str]:
    """The schemas whose tenant-app migration records are exactly this code's: one digest
    per schema computed by the server (a row per schema instead of a row per migration),
    a few hundred schemas per query. A schema not found here may still be current (an
    extra record of a migration since removed): ``behind`` reads those in full."""
    labels = sorted(tenant_app_labels())
    expected = _records_digest(expected_migrations())
    array = "ARRAY[" + ", ".join(f"'{label}'" for label in labels) + "]"
    found: set[str] = set()
    with connection.cursor() as cursor:
        cursor.execute(_WITH_RECORDS, [list(schemas)])
        present = [row[0] for row in cursor.fetchall()]
        for i in range(0, len(present), chunk):
            part = present[i : i + chunk]
            sql = " UNION ALL ".join(
                f"SELECT '{s}', md5(string_agg(app || '.' || name, ',' ORDER BY app || '.' || name COLLATE \"C\")) "
                f"FROM {q(s)}.django_migrations WHERE app = ANY({array})"
                for s in part
            )
            cursor.execute(sql)
            found.update(schema for schema, digest in cursor.fetchall() if digest == expected)
    return found


def behind(schemas: Sequence[str]) -> list[str]:
    """The schemas missing at least one expected migration (order kept)."""
    current = current_schemas(schemas)
    rest = [s for s in schemas if s not in current]
    if not rest:
        return []
    expected = expected_migrations()
    applied = applied_migrations(rest)
    return [s for s in rest if not expected <= applied[s]]


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
SCHEMA_TOKEN = "⟦schema⟧"  # stands for the target schema in the replay script
_script_cache: dict[str, str] = {}


class TemplateOutdated(SchemaError):
    """The template (and so the replay script) is not at this code's migration state yet,
    e.g. during a deploy before ``migrate_all`` ran. Signup must not migrate: it retries later."""


def replay_script(*, build: bool = False, verbosity: int = 0, stdout: TextIO | None = None) -> str:
    """The replay script for this code's migration state.

    A process keeps it in memory once read. It is self-contained (no reference to the
    template schema), so it stays valid while a deploy migrates the template. Only with
    ``build=True`` (deploy, pool refill, tests) is a missing or outdated template migrated
    and the script rebuilt; request paths raise ``TemplateOutdated`` instead."""
    fingerprint = expected_fingerprint()
    cached = _script_cache.get(fingerprint)
    if cached is not None:
        return cached
    row = SchemaTemplate.objects.filter(schema_name=TEMPLATE_SCHEMA, fingerprint=fingerprint).first()
    if row is None or not row.script:
        if not build:
            raise TemplateOutdated(f"no replay script for migration state {fingerprint[:12]} yet")
        row = _build_template(fingerprint, verbosity=verbosity, stdout=stdout)
    _script_cache[fingerprint] = row.script
    return row.script


def ensure_template(verbosity: int = 0, stdout: TextIO | None = None) -> str:
    """Deploy-time: the template at this code's migration state, and its replay script."""
    return replay_script(build=True, verbosity=verbosity, stdout=stdout)


def _build_template(fingerprint: str, verbosity: int = 0, stdout: TextIO | None = None) -> SchemaTemplate:
    with transaction.atomic():
        with connection.cursor() as cursor:  # one builder at a time; released at commit
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_TEMPLATE_LOCK])
        row = SchemaTemplate.objects.filter(schema_name=TEMPLATE_SCHEMA).first()
        if row is not None and row.fingerprint == fingerprint and row.script and schema_exists(TEMPLATE_SCHEMA):
            return row
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {q(TEMPLATE_SCHEMA)}")
        migrate_schema(TEMPLATE_SCHEMA, verbosity=verbosity, stdout=stdout)
        if behind([TEMPLATE_SCHEMA]):
            raise SchemaError("template schema is still behind after migrating it")
        script = build_replay_script(TEMPLATE_SCHEMA)
        row, _created = SchemaTemplate.objects.update_or_create(
            schema_name=TEMPLATE_SCHEMA, defaults={"fingerprint": fingerprint, "script": script}
        )
        return row


def _fetch(sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _dollar_quote(text: str) -> str:
    tag = "$fx$"
    n = 0
    while tag in text:
        n += 1
        tag = f"$fx{n}$"
    return f"{tag}{text}{tag}"


def build_replay_script(template: str) -> str:
    """Generate the DDL and seed rows that recreate ``template`` under another name.

    Self-contained: explicit column definitions (types, defaults, identity, generated
    columns, collations), constraints and indexes under their own names (later migrations
    refer to them by name), and the seed rows (migration records, content types,
    permissions) as literals — nothing refers back to the template, so the script stays
    right while the template itself is being migrated. ``⟦schema⟧`` stands for the target.
    Object kinds it does not replay make it fail loudly."""
    unsupported = _fetch(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('v', 'm', 'f') "
        "UNION ALL SELECT t.tgname, 't' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal "
        "UNION ALL SELECT p.proname, 'p' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s "
        "UNION ALL SELECT t.typname, 'y' FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = %s AND t.typtype IN ('e', 'd', 'r', 'm') "
        "UNION ALL SELECT c.relname, 'S' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'S' AND NOT EXISTS ("
        "  SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i') "
        "UNION ALL SELECT c.relname || '.' || a.attname, 'd' FROM pg_attrdef d "
        "JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "WHERE n.nspname = %s AND pg_get_expr(d.adbin, d.adrelid) LIKE '%%nextval(%%'",
        [template] * 6,
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
            "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname",
            [template],
        )
    ]
    columns = _fetch(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, "
        "CASE WHEN a.attcollation <> t.typcollation THEN co.collname END "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY c.relname, a.attnum",
        [template],
    )
    by_table: dict[str, list[str]] = {t: [] for t in tables}
    insertable: dict[str, list[str]] = {t: [] for t in tables}
    identity: dict[str, list[str]] = {t: [] for t in tables}
    for table, name, type_, notnull, default, ident, generated, collation in columns:
        parts = [f'"{name}" {type_}']
        if collation:
            parts.append(f'COLLATE "{collation}"')
        if generated == "s":
            parts.append(f"GENERATED ALWAYS AS ({default}) STORED")
        elif default is not None:
            parts.append(f"DEFAULT {default}")
        if ident:
            parts.append("GENERATED ALWAYS AS IDENTITY" if ident == "a" else "GENERATED BY DEFAULT AS IDENTITY")
            identity[table].append(name)
        if notnull:
            parts.append("NOT NULL")
        by_table[table].append(" ".join(parts))
        if generated != "s":
            insertable[table].append(f'"{name}"')
    statements = [f'CREATE TABLE {SCHEMA_TOKEN}."{t}" ({", ".join(by_table[t])})' for t in tables]
    prefix = f"{template}."
    constraints = _fetch(
        "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) "
        "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND con.contype IN ('p', 'u', 'x', 'c', 'f') "
        "ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 "
        "WHEN 'c' THEN 3 ELSE 4 END, c.relname, con.conname",
        [template],
    )
    for table, name, definition in constraints:
        definition = definition.replace(f"REFERENCES {prefix}", f"REFERENCES {SCHEMA_TOKEN}.")
        statements.append(f'ALTER TABLE {SCHEMA_TOKEN}."{table}" ADD CONSTRAINT "{name}" {definition}')
    indexes = _fetch(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint con "
        "  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
        "  AND con.contype IN ('p', 'u', 'x')) ORDER BY c.relname",
        [template],
    )
    for (definition,) in indexes:
        definition = definition.replace(f" ON ONLY {prefix}", f" ON ONLY {SCHEMA_TOKEN}.")
        statements.append(definition.replace(f" ON {prefix}", f" ON {SCHEMA_TOKEN}."))
    for table in tables:
        cols = ", ".join(insertable[table])
        rows = _fetch(f'SELECT json_agg(json_build_array({cols})) FROM {q(template)}."{table}"', [])[0][0]
        if not rows:
            continue
        payload = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
        # Seed rows as a literal: one INSERT per table, typed by the target table's own columns.
        picks = ", ".join(f"(r->>{i})::{_column_type(columns, table, c)}" for i, c in enumerate(insertable[table]))
        statements.append(
            f'INSERT INTO {SCHEMA_TOKEN}."{table}" ({cols}) OVERRIDING SYSTEM VALUE '
            f"SELECT {picks} FROM json_array_elements({_dollar_quote(payload)}::json) AS r"
        )
        for column in identity[table]:
            statements.append(
                f"SELECT setval(pg_get_serial_sequence('{SCHEMA_TOKEN}.\"{table}\"', '{column}'), "
                f'(SELECT max("{column}") FROM {SCHEMA_TOKEN}."{table}"))'
            )
    return ";\n".join(statements) + ";"


def _column_type(columns: list[tuple[Any, ...]], table: str, quoted: str) -> str:
    name = quoted.strip('"')
    return next(c[2] for c in columns if c[0] == table and c[1] == name)


def replay_schema(schema: str, *, build: bool = False) -> None:
    """Create ``schema`` from the replay script in one round trip (inside the caller's
    transaction: a rollback leaves nothing behind). Raises ``TemplateOutdated`` on a
    request path when the script for this code's migration state does not exist yet."""
    script = replay_script(build=build)
    sql = f"CREATE SCHEMA {q(schema)};\n" + script.replace(SCHEMA_TOKEN, q(schema))
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
    """Bring pooled schemas up to date and top the pool up to ``target`` ready schemas.

    One refill at a time (a session advisory lock; a concurrent call returns at once), and
    a schema that fails to migrate is logged and skipped, never blocking the rest."""
    target = settings.SCHEMA_POOL_SIZE if target is None else target
    result = {"ready": 0, "created": 0, "upgraded": 0, "failed": 0, "skipped": 0}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_POOL_LOCK])
        if not cursor.fetchone()[0]:
            result["skipped"] = 1
            return result
    try:
        ensure_template()
        fingerprint = expected_fingerprint()
        for pk, name in PooledSchema.objects.exclude(fingerprint=fingerprint).values_list("id", "schema_name"):
            if not schema_exists(name):
                PooledSchema.objects.filter(pk=pk).delete()
                continue
            try:
                migrate_schema(name)
            except Exception:  # noqa: BLE001 - one broken schema must not stop the refill
                log.exception("pooled schema %s could not be migrated; dropping it from the pool", name)
                with transaction.atomic():
                    PooledSchema.objects.filter(pk=pk).delete()
                    drop_schema(name)
                result["failed"] += 1
                continue
            if not behind([name]):
                PooledSchema.objects.filter(pk=pk).update(fingerprint=fingerprint)
                result["upgraded"] += 1
        ready = PooledSchema.objects.filter(fingerprint=fingerprint).count()
        for _ in range(max(0, target - ready)):
            name = POOL_PREFIX + secrets.token_hex(6)
            with transaction.atomic():
                replay_schema(name)
                PooledSchema.objects.create(schema_name=name, fingerprint=fingerprint)
            result["created"] += 1
        result["ready"] = ready + result["created"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_POOL_LOCK])
    return result


def public_schema() -> str:
    return get_public_schema_name()
