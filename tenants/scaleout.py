"""What keeps the way onto Citus schema-based sharding open (docs/scale-out.md).

With ``citus.enable_schema_based_sharding`` every shop schema becomes a single-shard,
co-located group on one worker (``citus_schema_distribute`` moves existing ones); the
public schema stays on the coordinator. That works as long as nothing ties a shop to
another shop, or to a public table that cannot be copied to every worker:

- keys are ``bigint`` (Citus hands out sequence ranges per node; smaller sequences break
  inserts on workers);
- a shop table's foreign keys point inside its own schema, or to a public table declared
  a reference table here (copied to every node);
- no public table has a foreign key into a shop schema;
- no query on a request path joins two shop schemas, or a shop table and a public table
  that is not a reference table (checked in the test suite on every request the tests make,
  ``tests/conftest.py``).

``schema_problems()`` runs the catalog checks (the test suite and ``manage.py
scaleout_check``); ``QueryGuard`` judges one statement."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection

from tenants.schemas import POOL_PREFIX, SHOP_PREFIX, TEMPLATE_SCHEMA

# Public tables a shop may reference or join: copied to every node (create_reference_table).
# Small, shared, written by operators only. Shop schemas hold no foreign key to the public
# schema today; these are the public tables a shop's pages may read with its own.
REFERENCE_TABLES: dict[str, str] = {
    "themes_theme": "the built-in theme catalogue (a handful of rows, written at deploy)",
    "themes_themeversion": "published theme versions (immutable, written by operators)",
}

# Integer keys kept knowingly: Django's own contrib tables (AutoField in Django's code, a few
# hundred rows per shop, filled by post_migrate, never referenced from outside the shop).
# To widen them before a move: docs/scale-out.md, "On the day".
INTEGER_KEYS_ALLOWED: dict[str, str] = {
    "django_content_type": "django.contrib.contenttypes (AutoField), ~100 rows per shop",
    "auth_permission": "django.contrib.auth (AutoField), ~400 rows per shop",
    "auth_group": "django.contrib.auth (AutoField), a few rows per shop",
}

_INTEGER_TYPES = {"smallint", "integer"}


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def schema_problems(template: str = TEMPLATE_SCHEMA) -> list[str]:
    """Everything in the migrated shop schema (and the public schema) that schema-based
    sharding would refuse or that would tie shops together. Empty when all is well."""
    problems: list[str] = []
    for table, column, type_ in _rows(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(con.conkey) "
        "WHERE n.nspname = %s AND con.contype = 'p' ORDER BY 1, 2",
        [template],
    ):
        if type_ in _INTEGER_TYPES and table not in INTEGER_KEYS_ALLOWED:
            problems.append(f"{table}.{column}: primary key is {type_}, not bigint")
    for table, column, type_ in _rows(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_depend d ON d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype IN ('a', 'i') "
        "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "WHERE n.nspname = %s ORDER BY 1, 2",
        [template],
    ):
        if type_ in _INTEGER_TYPES and table not in INTEGER_KEYS_ALLOWED:
            problems.append(f"{table}.{column}: sequence-backed column is {type_}, not bigint")
    for table, name, target_schema, target in _rows(
        "SELECT c.relname, con.conname, rn.nspname, rc.relname FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
        "WHERE n.nspname = %s AND con.contype = 'f' AND rn.nspname <> n.nspname ORDER BY 1, 2",
        [template],
    ):
        if target_schema != "public":
            problems.append(f"{table} ({name}): foreign key into another schema, {target_schema}.{target}")
        elif target not in REFERENCE_TABLES:
            problems.append(f"{table} ({name}): foreign key to public.{target}, which is not a reference table")
    for table, name, target_schema, target in _rows(
        "SELECT c.relname, con.conname, rn.nspname, rc.relname FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
        "WHERE n.nspname = 'public' AND con.contype = 'f' AND rn.nspname <> 'public' ORDER BY 1, 2",
        [],
    ):
        problems.append(f"public.{table} ({name}): foreign key into a shop schema ({target_schema}.{target})")
    missing = set(REFERENCE_TABLES) - {
        str(r[0])
        for r in _rows(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'",
            [],
        )
    }
    problems += [
        f"reference table public.{t} does not exist (remove it from REFERENCE_TABLES)" for t in sorted(missing)
    ]
    return problems


def _is_shop_schema(name: str) -> bool:
    return name.startswith((SHOP_PREFIX, POOL_PREFIX)) or name == TEMPLATE_SCHEMA


# FROM / JOIN / UPDATE / INTO followed by a (schema-qualified, quoted or not) relation name,
# not a function call or a subquery.
_RELATION = re.compile(
    r'\b(?:FROM|JOIN|UPDATE|INTO)\s+(?:"?([a-z_][a-z0-9_]*)"?\s*\.\s*)?"?([a-z_][a-z0-9_]*)"?(?!\s*[(.])',
    re.IGNORECASE,
)


@dataclass
class QueryGuard:
    """Judges statements run in a shop's schema: relations are resolved as PostgreSQL
    resolves them with django-tenants' search path (the shop's schema, then public)."""

    shop_tables: frozenset[str]
    public_tables: frozenset[str]

    @classmethod
    def load(cls, template: str = TEMPLATE_SCHEMA) -> QueryGuard:
        def tables(schema: str) -> frozenset[str]:
            return frozenset(
                str(r[0])
                for r in _rows(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')",
                    [schema],
                )
            )

        return cls(shop_tables=tables(template), public_tables=tables("public"))

    def problem(self, sql: str, schema: str) -> str:
        """Why ``sql``, run with ``schema`` first on the search path, would tie shops together
        ('' when it would not)."""
        shops: set[str] = set()
        public: set[str] = set()
        for qualifier, name in _RELATION.findall(sql):
            if qualifier:
                if _is_shop_schema(qualifier):
                    shops.add(qualifier)
                elif qualifier == "public":
                    public.add(name)
                continue
            if name in self.shop_tables:
                shops.add(schema)
            elif name in self.public_tables:
                public.add(name)
        if len(shops) > 1:
            return f"joins shop schemas {', '.join(sorted(shops))}"
        outside = sorted(public - set(REFERENCE_TABLES))
        if shops and outside:
            return f"joins the shop's tables with public {', '.join(outside)} (not reference tables)"
        return ""
