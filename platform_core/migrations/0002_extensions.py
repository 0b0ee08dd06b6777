from django.db import migrations


class Migration(migrations.Migration):
    """Extensions live in the public schema, which every shop's search_path includes:
    ltree for the referral tree, pg_trgm for catalogue search, btree_gist for exclusion
    constraints (time slots)."""

    dependencies = [("platform_core", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS ltree; CREATE EXTENSION IF NOT EXISTS pg_trgm; "
            "CREATE EXTENSION IF NOT EXISTS btree_gist;",
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
