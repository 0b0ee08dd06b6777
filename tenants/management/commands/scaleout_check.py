"""Is this database ready to move onto Citus schema-based sharding, and how full is it?

Prints the one-node figures that decide when to move (shop schemas, relations in the
catalog, catalog and database size, connections) beside the limits measured on one server
(docs/scale-out.md), then the catalog checks of ``tenants.scaleout``. Exits 1 when a check
fails: something that schema-based sharding would refuse, or that ties shops together."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from tenants.scaleout import INTEGER_KEYS_ALLOWED, REFERENCE_TABLES, schema_problems

# Measured on one 2-core server (bench/; docs/scale-out.md): past these, plan the move.
SHOPS_COMFORTABLE = 5000
CATALOG_RELATIONS_COMFORTABLE = 2_000_000


class Command(BaseCommand):
    help = "Check that the shop schema stays movable to Citus schema-based sharding; print the one-node figures."

    def handle(self, *args: Any, **options: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE nspname LIKE 'shop\\_%%'), count(*) FILTER (WHERE nspname LIKE 'pool\\_%%') "
                "FROM pg_namespace"
            )
            shops, pooled = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM pg_class")
            (relations,) = cursor.fetchone()
            cursor.execute(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog'"
            )
            (catalog_size,) = cursor.fetchone()
            cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            (database_size,) = cursor.fetchone()
            cursor.execute("SHOW max_connections")
            (max_connections,) = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            (connections_now,) = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")
            (citus,) = cursor.fetchone()
        w = self.stdout.write
        w(f"shop schemas              {shops} (+ {pooled} pooled); comfortable on one node up to ~{SHOPS_COMFORTABLE}")
        w(f"relations in the catalog  {relations} (pg_class); comfortable up to ~{CATALOG_RELATIONS_COMFORTABLE:,}")
        w(f"catalog size              {catalog_size} (pg_catalog)")
        w(f"database size             {database_size}")
        w(f"connections               {connections_now} open to this database; max_connections {max_connections}")
        w(f"citus extension           {'installed' if citus else 'not installed'}")
        w(f"reference tables          {', '.join(sorted(REFERENCE_TABLES)) or '-'}")
        w(f"integer keys allowed      {', '.join(sorted(INTEGER_KEYS_ALLOWED))} (Django contrib; docs/scale-out.md)")
        problems = schema_problems()
        if problems:
            w(self.style.ERROR(f"schema-based sharding: NOT ready ({len(problems)} problem(s))"))
            for problem in problems:
                w(f"  - {problem}")
            sys.exit(1)
        w(self.style.SUCCESS("schema-based sharding: ready (no cross-schema ties in the shop template or public)"))
        if shops > SHOPS_COMFORTABLE or relations > CATALOG_RELATIONS_COMFORTABLE:
            w(self.style.WARNING("past the one-node comfort figures: plan the move (docs/scale-out.md)"))
