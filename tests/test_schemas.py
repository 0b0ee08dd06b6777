"""Schema provisioning and migrations at scale: DDL replay equals a migrated schema,
the pool hands out distinct schemas under concurrency, migrate_all skips current
schemas, migrates the rest in parallel and resumes after a failure."""

from __future__ import annotations

import threading
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from tenants.models import PooledSchema
from tenants.schemas import (
    TEMPLATE_SCHEMA,
    behind,
    migrate_schema,
    refill_pool,
    replay_schema,
)
from tenants.services import shop_signup
from tests.conftest import PASSWORD

CATALOG_SQL = {
    # Column order is compared, not attnum: a migrated schema keeps holes for dropped columns.
    "columns": "SELECT table_name, column_name, data_type, udt_name, is_nullable, "
    "coalesce(column_default, ''), is_identity, identity_generation FROM information_schema.columns "
    "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
    "constraints": "SELECT c.relname, con.conname, con.contype, "
    "replace(pg_get_constraintdef(con.oid), %s || '.', '') FROM pg_constraint con "
    "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND con.contype <> 'n' ORDER BY 1, 2",
    "indexes": "SELECT tablename, indexname, replace(indexdef, %s || '.', '') FROM pg_indexes "
    "WHERE schemaname = %s ORDER BY 1, 2",
}


def catalog(schema: str) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with connection.cursor() as cursor:
        for key, sql in CATALOG_SQL.items():
            cursor.execute(sql, [schema] * sql.count("%s"))
            out[key] = cursor.fetchall()
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY app, name')
        out["migrations"] = cursor.fetchall()
        cursor.execute(f'SELECT app_label, model FROM "{schema}".django_content_type ORDER BY 1, 2')
        out["content_types"] = cursor.fetchall()
        cursor.execute(f'SELECT count(*) FROM "{schema}".auth_permission')
        out["permissions"] = cursor.fetchall()
    return out


@pytest.mark.django_db
def test_ddl_replay_reproduces_the_migrated_template_exactly() -> None:
    replay_schema("shop_replayed")
    template, replayed = catalog(TEMPLATE_SCHEMA), catalog("shop_replayed")
    assert template["columns"] and template["constraints"] and template["indexes"]
    for key in template:
        assert replayed[key] == template[key], key


@pytest.mark.django_db
def test_a_replayed_schema_is_current_and_takes_later_migrations() -> None:
    replay_schema("shop_replayed")
    assert behind(["shop_replayed"]) == []
    migrate_schema("shop_replayed")  # nothing to do, and nothing breaks
    # identity sequences continue after the seed rows
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO "shop_replayed".django_content_type (app_label, model) VALUES (%s, %s) RETURNING id',
            ["x", "y"],
        )
        new_id = cursor.fetchone()[0]
        cursor.execute('SELECT max(id) FROM "shop_replayed".django_content_type WHERE app_label <> %s', ["x"])
        assert new_id > cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_failed_replay_leaves_no_schema() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        replay_schema("shop_halfway")
        raise RuntimeError("boom")
    from tenants.schemas import schema_exists

    assert not schema_exists("shop_halfway")


def test_concurrent_signups_take_different_pooled_schemas_without_waiting(live_db: list[str]) -> None:
    refill_pool(target=2)
    first, second = PooledSchema.objects.order_by("id").values_list("schema_name", flat=True)
    locked = threading.Event()
    release = threading.Event()

    def hold_first_entry() -> None:
        try:
            with transaction.atomic():
                PooledSchema.objects.select_for_update().get(schema_name=first)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_first_entry)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # waiting on the held row would fail here
        live_db.append("racer-two")
        result = shop_signup(name="Two", slug="racer-two", email="two@racer.test", password=PASSWORD, tier="standard")
        assert result.source == "pool"
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert PooledSchema.objects.filter(schema_name=first).exists()  # the held one stayed
    assert not PooledSchema.objects.filter(schema_name=second).exists()  # the free one was taken


def _make_behind(schema: str, *, content_types: bool = False) -> None:
    """Take the authtoken app (a CreateModel and three later migrations) out of ``schema``;
    with ``content_types`` also its content types and permissions (what post_migrate adds)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'DROP TABLE "{schema}".authtoken_token; DELETE FROM "{schema}".django_migrations WHERE app = %s',
            ["authtoken"],
        )
        if content_types:
            cursor.execute(
                f'DELETE FROM "{schema}".auth_permission WHERE content_type_id IN '
                f'(SELECT id FROM "{schema}".django_content_type WHERE app_label = %s); '
                f'DELETE FROM "{schema}".django_content_type WHERE app_label = %s',
                ["authtoken", "authtoken"],
            )


def test_migrate_all_skips_current_schemas_and_migrates_the_rest_compiled(live_db: list[str]) -> None:
    for slug in ("mig-one", "mig-two", "mig-three"):
        live_db.append(slug)
        shop_signup(name=slug, slug=slug, email=f"{slug}@mig.test", password=PASSWORD, tier="standard")
    _make_behind("shop_mig_one", content_types=True)
    _make_behind("shop_mig_three", content_types=True)
    out = StringIO()
    call_command("migrate_all", skip_public=True, workers=2, verbosity=2, stdout=out)
    text = out.getvalue()
    assert "2 behind" in text, text
    # one migration state: Django's migrate runs in the first, its SQL is replayed in the other
    assert "state 1/1: 2 schema(s) miss 4 migration(s)" in text, text
    assert "by Django's migrate in shop_mig_one (" in text and "replayed in 1 more over" in text, text
    assert "shop_mig_three ok" in text and "shop_mig_two" not in text and "Django's migrate in 1" not in text
    assert behind(["shop_mig_one", "shop_mig_two", "shop_mig_three"]) == []
    # the replayed schema is the migrated template's twin: tables, constraints, indexes,
    # migration records, content types and permissions
    template, replayed = catalog(TEMPLATE_SCHEMA), catalog("shop_mig_three")
    for key in template:
        assert replayed[key] == template[key], key
    again = StringIO()
    call_command("migrate_all", skip_public=True, stdout=again)
    assert "0 behind" in again.getvalue()


def test_migrate_all_without_compiling_runs_djangos_migrate_in_parallel(live_db: list[str]) -> None:
    for slug in ("nc-one", "nc-two"):
        live_db.append(slug)
        shop_signup(name=slug, slug=slug, email=f"{slug}@nc.test", password=PASSWORD, tier="standard")
        _make_behind(f"shop_{slug.replace('-', '_')}")
    out = StringIO()
    call_command("migrate_all", skip_public=True, workers=2, no_compile=True, stdout=out)
    text = out.getvalue()
    assert "Django's migrate in 2 schema(s)" in text and "shop_nc_one ok" in text and "shop_nc_two ok" in text
    assert behind(["shop_nc_one", "shop_nc_two"]) == []


def test_migrate_all_reports_a_failure_and_resumes_on_the_next_run(live_db: list[str]) -> None:
    for slug in ("res-one", "res-two", "res-three"):
        live_db.append(slug)
        shop_signup(name=slug, slug=slug, email=f"{slug}@res.test", password=PASSWORD, tier="standard")
        _make_behind(f"shop_{slug.replace('-', '_')}")
    with connection.cursor() as cursor:  # something in the way of res-two's migration
        cursor.execute('CREATE TABLE "shop_res_two".authtoken_token (blocker int)')
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("migrate_all", skip_public=True, workers=2, stdout=out, stderr=err)
    assert exit_info.value.code == 1
    text = out.getvalue()
    # the compiled script fails there (and rolls back whole), Django's migrate fails too: reported
    assert "shop_res_two: compiled script failed" in text, text
    assert "shop_res_two FAILED" in text
    assert "run again to resume" in err.getvalue()
    assert behind(["shop_res_one", "shop_res_two", "shop_res_three"]) == ["shop_res_two"]
    with connection.cursor() as cursor:
        cursor.execute('DROP TABLE "shop_res_two".authtoken_token')
    out = StringIO()
    call_command("migrate_all", skip_public=True, stdout=out)
    assert "1 behind" in out.getvalue()
    assert behind(["shop_res_one", "shop_res_two", "shop_res_three"]) == []


def test_migrate_all_check_mode_exits_nonzero_when_behind(live_db: list[str]) -> None:
    live_db.append("chk-one")
    shop_signup(name="chk", slug="chk-one", email="chk@chk.test", password=PASSWORD, tier="standard")
    call_command("migrate_all", check=True, stdout=StringIO())
    _make_behind("shop_chk_one")
    with pytest.raises(SystemExit):
        call_command("migrate_all", check=True, stdout=StringIO())


@pytest.mark.django_db
def test_the_replay_script_is_self_contained_and_survives_a_template_being_migrated() -> None:
    from tenants.schemas import SCHEMA_TOKEN, ensure_template

    script = ensure_template()
    assert TEMPLATE_SCHEMA not in script and SCHEMA_TOKEN in script
    reference = catalog(TEMPLATE_SCHEMA)
    # a deploy is migrating the template meanwhile: here it even disappears for a moment
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER SCHEMA "{TEMPLATE_SCHEMA}" RENAME TO tpl_being_migrated')
    replay_schema("shop_during_deploy")
    replayed = catalog("shop_during_deploy")
    for key in reference:
        assert replayed[key] == reference[key], key


@pytest.mark.django_db
def test_signup_never_migrates_it_waits_for_the_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tenants import schemas
    from tenants.models import SchemaTemplate, Tenant
    from tests.conftest import platform_client

    monkeypatch.setattr(schemas, "_script_cache", {})
    SchemaTemplate.objects.update(fingerprint="from-the-previous-release")
    response = platform_client().post(
        "/api/v1/signup/",
        data=json.dumps({"name": "Late", "slug": "late-shop", "email": "late@shop.test", "password": PASSWORD}),
        content_type="application/json",
    )
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert response.json()["errors"]["non_field_errors"][0]["code"] == "upgrading"
    assert not Tenant.objects.filter(slug="late-shop").exists()
    assert SchemaTemplate.objects.get().fingerprint == "from-the-previous-release"  # nothing migrated


def test_a_refill_already_running_elsewhere_is_not_run_twice(live_db: list[str]) -> None:
    from tenants import schemas

    held, release = threading.Event(), threading.Event()

    def other_refill() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [schemas._POOL_LOCK])
                held.set()
                release.wait(10)
                cursor.execute("SELECT pg_advisory_unlock(%s)", [schemas._POOL_LOCK])
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_refill)
    thread.start()
    try:
        assert held.wait(10)
        assert refill_pool(target=2)["skipped"] == 1
        assert not PooledSchema.objects.exists()
    finally:
        release.set()
        thread.join()
    assert refill_pool(target=1)["created"] == 1


@pytest.mark.django_db
def test_a_schema_clash_from_a_concurrent_signup_is_a_slug_error() -> None:
    from django.core.exceptions import ValidationError

    from tenants.services import _clashing_field

    replay_schema("shop_twin")  # the other signup's schema, committed first
    with pytest.raises(ValidationError) as exc:
        shop_signup(name="Twin", slug="twin", email="twin@twin.test", password=PASSWORD, tier="standard")
    assert "slug" in exc.value.error_dict

    class Diag:
        constraint_name = "pg_namespace_nspname_index"  # what the loser of a true race gets

    class Cause(Exception):
        pgcode = "23505"
        diag = Diag()

    clash = Exception("duplicate key")
    clash.__cause__ = Cause()
    assert _clashing_field(clash) == "slug"
    Diag.constraint_name = "tenant_owner_email_ci_uniq"
    assert _clashing_field(clash) == "email"
