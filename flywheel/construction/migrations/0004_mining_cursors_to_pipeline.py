"""Bad-case sources keep their cursors in the pipeline's one cursor table now: copy each
source's position there (as "badcase-source:<source>"), then drop MiningCursor."""

from django.db import migrations

PREFIX = "badcase-source:"


def copy_to_pipeline(apps, schema_editor):
    MiningCursor = apps.get_model("construction", "MiningCursor")
    Cursor = apps.get_model("pipeline", "Cursor")
    for old in MiningCursor.objects.all():
        cursor, _ = Cursor.objects.get_or_create(name=PREFIX + old.source)
        if old.position > cursor.position:
            Cursor.objects.filter(id=cursor.id).update(position=old.position)


def copy_back(apps, schema_editor):
    MiningCursor = apps.get_model("construction", "MiningCursor")
    Cursor = apps.get_model("pipeline", "Cursor")
    for cursor in Cursor.objects.filter(name__startswith=PREFIX):
        MiningCursor.objects.update_or_create(
            source=cursor.name.removeprefix(PREFIX), defaults={"position": cursor.position}
        )


class Migration(migrations.Migration):

    dependencies = [
        ('construction', '0003_badcase_proposed_tests'),
        ('pipeline', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(copy_to_pipeline, copy_back),
        migrations.DeleteModel(
            name='MiningCursor',
        ),
    ]
