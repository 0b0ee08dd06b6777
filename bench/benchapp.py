"""A throwaway tenant app, generated into a temporary folder, that only benchmarks install.

``bench.settings_bench`` adds it to TENANT_APPS when ``BENCH_APP_DIR`` names the folder.
Its migrations, in order:

- ``0001_initial``: one small table (``Thing``);
- ``0002_extra_01`` ...: ``extra_tables`` more tables, one migration each, with a foreign
  key, an index and a few typed columns (makes the shop schema "shop-sized");
- ``00NN_thing_note`` (when ``add_column``): one nullable column on ``Thing``, the
  one-column deploy that bench/migrate.py times.

The models module matches the migrations, so Django finds no unmigrated changes."""

from __future__ import annotations

import textwrap
from pathlib import Path

APP = "fenxiao_benchapp"
NOTE_MIGRATION_SUFFIX = "thing_note"


def _extra_name(i: int) -> str:
    return f"Extra{i:02d}"


def note_migration_name(extra_tables: int) -> str:
    return f"{extra_tables + 2:04d}_{NOTE_MIGRATION_SUFFIX}"


def write_app(root: Path, *, extra_tables: int = 0, add_column: bool = False) -> None:
    """(Re)write the app under ``root/APP`` in the requested state."""
    app = root / APP
    migrations = app / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    for old in migrations.glob("0*.py"):
        old.unlink()
    (app / "__init__.py").write_text("")
    (migrations / "__init__.py").write_text("")
    (app / "apps.py").write_text(
        "from django.apps import AppConfig\n\n\n"
        "class BenchAppConfig(AppConfig):\n"
        f"    name = {APP!r}\n"
        "    default_auto_field = 'django.db.models.BigAutoField'\n"
    )

    note = "    note = models.CharField(max_length=100, null=True)\n" if add_column else ""
    models = [
        "from django.db import models\n\n",
        "class Thing(models.Model):\n    name = models.CharField(max_length=100)\n" + note,
    ]
    for i in range(1, extra_tables + 1):
        models.append(
            f"\nclass {_extra_name(i)}(models.Model):\n"
            "    thing = models.ForeignKey(Thing, on_delete=models.CASCADE)\n"
            "    code = models.CharField(max_length=32, db_index=True)\n"
            "    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)\n"
            "    created = models.DateTimeField(auto_now_add=True)\n"
            "    flags = models.JSONField(default=dict)\n"
        )
    (app / "models.py").write_text("\n".join(models))

    previous = "0001_initial"
    _write_migration(
        migrations / "0001_initial.py",
        [],
        """
        migrations.CreateModel(
            name="Thing",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
            ],
        ),
        """,
        initial=True,
    )
    for i in range(1, extra_tables + 1):
        name = f"{i + 1:04d}_extra_{i:02d}"
        _write_migration(
            migrations / f"{name}.py",
            [previous],
            f"""
            migrations.CreateModel(
                name="{_extra_name(i)}",
                fields=[
                    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                    ("thing", models.ForeignKey(on_delete=models.deletion.CASCADE, to="{APP}.thing")),
                    ("code", models.CharField(db_index=True, max_length=32)),
                    ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=12)),
                    ("created", models.DateTimeField(auto_now_add=True)),
                    ("flags", models.JSONField(default=dict)),
                ],
            ),
            """,
        )
        previous = name
    if add_column:
        _write_migration(
            migrations / f"{note_migration_name(extra_tables)}.py",
            [previous],
            """
            migrations.AddField(
                model_name="thing",
                name="note",
                field=models.CharField(max_length=100, null=True),
            ),
            """,
        )
    for cached in app.rglob("__pycache__"):
        for pyc in cached.iterdir():
            pyc.unlink()


def _write_migration(path: Path, dependencies: list[str], operations: str, initial: bool = False) -> None:
    deps = ", ".join(f"({APP!r}, {d!r})" for d in dependencies)
    body = textwrap.indent(textwrap.dedent(operations).strip(), " " * 8)
    path.write_text(
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    initial = {initial}\n"
        f"    dependencies = [{deps}]\n"
        "    operations = [\n"
        f"{body}\n"
        "    ]\n"
    )
