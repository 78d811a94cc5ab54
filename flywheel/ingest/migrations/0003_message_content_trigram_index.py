"""Full-text search of message content on the sessions list (`/sessions/?q=`).

A trigram GIN index on UPPER(content) is what Django's `content__icontains` compiles to on
PostgreSQL (`UPPER(content) LIKE UPPER('%...%')`), so one index serves English (any case) and
Chinese (trigrams of characters; no word segmentation needed). pg_trgm is a trusted extension
(PostgreSQL 13+): the database owner may create it without being a superuser.

Built CONCURRENTLY (hence a non-atomic migration) so a deployment with millions of messages keeps
ingesting while the index is built. Not declared on the model: the index is PostgreSQL-only, and
the embedded SQLite default searches the same way without it.
"""

from django.db import migrations

INDEX = "message_content_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON ingest_message USING gin (UPPER(content) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("ingest", "0002_leaner_message_indexes")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
