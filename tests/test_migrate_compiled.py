"""migrate_all with a real new migration: a deploy adds migrations to a tenant app (here a
temporary migrations package for ``rest_framework.authtoken``: its four real migrations
plus the ones a test writes), and every shop schema must end up as Django's migrate leaves
the template — compiled once and replayed, or by Django's migrate where Python runs."""

from __future__ import annotations

import re
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tenants import schemas
from tenants.models import SchemaTemplate
from tenants.schemas import TEMPLATE_SCHEMA, all_shop_schemas, behind
from tenants.services import shop_signup
from tests.conftest import PASSWORD
from tests.test_schemas import catalog

APP = "authtoken"
LAST_REAL = "0004_alter_tokenproxy_options"


def _forget_migration_state() -> None:
    schemas._expected = None
    schemas._script_cache.clear()


@pytest.fixture
def new_migrations(live_db: list[str], tmp_path: Path) -> Iterator[Callable[[str, str], None]]:
    """``add(name, operations)`` writes ``<name>.py`` (after the previous one) into a
    migrations package that also holds authtoken's real migrations; afterwards every
    schema is put back as it was (column, comment and records gone, template script restored)."""
    package = f"fx_tmpmig_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / package
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "import rest_framework.authtoken.migrations as _real\n\n"
        "__path__ = [*__path__, *_real.__path__]  # noqa: F821 - the real migrations, then ours\n"
    )
    previous = [LAST_REAL]

    def add(name: str, operations: str) -> None:
        body = textwrap.indent(textwrap.dedent(operations).strip(), " " * 8)
        (folder / f"{name}.py").write_text(
            "from django.db import migrations, models\n\n\n"
            "def comment(apps, schema_editor):\n"
            "    schema_editor.connection.cursor().execute(\"COMMENT ON TABLE authtoken_token IS 'python ran'\")\n\n\n"
            "class Migration(migrations.Migration):\n"
            f"    dependencies = [({APP!r}, {previous[-1]!r})]\n"
            f"    operations = [\n{body}\n    ]\n"
        )
        previous.append(name)
        _forget_migration_state()

    template = SchemaTemplate.objects.get(schema_name=TEMPLATE_SCHEMA)
    sys.path.insert(0, str(tmp_path))
    try:
        with override_settings(MIGRATION_MODULES={APP: package}):
            yield add
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m.startswith(package)]:
            del sys.modules[module]
        with connection.cursor() as cursor:
            for schema in all_shop_schemas():
                cursor.execute(
                    f'ALTER TABLE "{schema}".authtoken_token DROP COLUMN IF EXISTS note; '
                    f'COMMENT ON TABLE "{schema}".authtoken_token IS NULL; '
                    f"DELETE FROM \"{schema}\".django_migrations WHERE app = %s AND name LIKE '%%fxtest%%'",
                    [APP],
                )
        SchemaTemplate.objects.filter(pk=template.pk).update(fingerprint=template.fingerprint, script=template.script)
        _forget_migration_state()


def _column(schema: str) -> tuple[str, str] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'authtoken_token' AND column_name = 'note'",
            [schema],
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def _recorded(schema: str, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM "{schema}".django_migrations WHERE app = %s AND name = %s', [APP, name])
        return cursor.fetchone() is not None


def _shops(live_db: list[str], *slugs: str) -> list[str]:
    for slug in slugs:
        live_db.append(slug)
        shop_signup(name=slug, slug=slug, email=f"{slug}@cm.test", password=PASSWORD, tier="standard")
    return [f"shop_{slug.replace('-', '_')}" for slug in slugs]


ADD_NOTE = """
migrations.AddField(
    model_name="token",
    name="note",
    field=models.CharField(max_length=100, null=True),
),
"""


def test_a_one_column_migration_is_compiled_once_and_replayed_in_every_shop(
    live_db: list[str], new_migrations: Callable[[str, str], None]
) -> None:
    shops = _shops(live_db, "cm-one", "cm-two")
    new_migrations("0005_fxtest_note", ADD_NOTE)
    every = all_shop_schemas()
    assert set(behind(every)) == set(every)  # the template and every shop miss it
    out = StringIO()
    call_command("migrate_all", skip_public=True, workers=2, stdout=out)
    text = out.getvalue()
    behind_shops = len(every) - 1  # the template is migrated first, by Django's migrate
    assert f"{behind_shops} behind" in text, text
    assert f"state 1/1: {behind_shops} schema(s) miss 1 migration(s) (authtoken.0005_fxtest_note)" in text, text
    # the template's own migration (Django's migrate, at deploy) was recorded: no pilot needed
    assert f"compiled to 1 statement(s) by Django's migrate in {TEMPLATE_SCHEMA}" in text, text
    assert f"replayed in {behind_shops} over 2 connection(s)" in text, text
    assert "compiled script failed" not in text and not re.search(r"Django's migrate in \d+ schema", text)
    assert behind(all_shop_schemas()) == []
    for schema in [TEMPLATE_SCHEMA, *shops, "shop_alpha", "shop_beta"]:
        assert _column(schema) == ("character varying", "YES"), schema
        assert _recorded(schema, "0005_fxtest_note"), schema
    # compiled or not, the shops equal the template Django migrated
    reference = catalog(TEMPLATE_SCHEMA)
    for schema in shops:
        mine = catalog(schema)
        for key in reference:
            assert mine[key] == reference[key], (schema, key)
    # and new shops get the column from the rebuilt replay script
    (late,) = _shops(live_db, "cm-late")
    assert _column(late) == ("character varying", "YES") and behind([late]) == []


def test_a_migration_running_python_goes_to_djangos_migrate(
    live_db: list[str], new_migrations: Callable[[str, str], None]
) -> None:
    shops = _shops(live_db, "py-one", "py-two")
    new_migrations("0005_fxtest_note", ADD_NOTE)
    new_migrations("0006_fxtest_python", "migrations.RunPython(comment, migrations.RunPython.noop),")
    out = StringIO()
    call_command("migrate_all", skip_public=True, workers=2, stdout=out)
    text = out.getvalue()
    assert "authtoken.0006_fxtest_python runs Python (RunPython): Django's migrate" in text, text
    assert "compiled to" not in text
    assert behind(all_shop_schemas()) == []
    with connection.cursor() as cursor:
        for schema in shops:
            cursor.execute("SELECT obj_description(%s::regclass)", [f'"{schema}".authtoken_token'])
            assert cursor.fetchone()[0] == "python ran", schema
            assert _column(schema) is not None


def test_a_failure_mid_run_keeps_what_committed_and_the_next_run_finishes(
    live_db: list[str], new_migrations: Callable[[str, str], None]
) -> None:
    one, two, three = _shops(live_db, "mid-one", "mid-two", "mid-three")
    with connection.cursor() as cursor:  # an incompatible column already there in one shop
        cursor.execute(f'ALTER TABLE "{two}".authtoken_token ADD COLUMN note integer')
    new_migrations("0005_fxtest_note", ADD_NOTE)
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit):
        call_command("migrate_all", skip_public=True, workers=2, stdout=out, stderr=err)
    assert f"{two}: compiled script failed" in out.getvalue() and f"{two} FAILED" in out.getvalue()
    assert behind([one, two, three]) == [two]
    assert _column(two) == ("integer", "YES") and not _recorded(two, "0005_fxtest_note")  # nothing half-written
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{two}".authtoken_token DROP COLUMN note')
    out = StringIO()
    call_command("migrate_all", skip_public=True, stdout=out)
    assert "1 behind" in out.getvalue()
    assert behind(all_shop_schemas()) == [] and _column(two) == ("character varying", "YES")
