"""Routing rules keep their cursors in the pipeline's one cursor table now: copy each rule's
position there (as "routing-rule:<rule>"), then drop RoutingCursor."""

from django.db import migrations

PREFIX = "routing-rule:"


def copy_to_pipeline(apps, schema_editor):
    RoutingCursor = apps.get_model("review", "RoutingCursor")
    Cursor = apps.get_model("pipeline", "Cursor")
    for old in RoutingCursor.objects.all():
        cursor, _ = Cursor.objects.get_or_create(name=PREFIX + old.rule)
        if old.position > cursor.position:
            Cursor.objects.filter(id=cursor.id).update(position=old.position)


def copy_back(apps, schema_editor):
    RoutingCursor = apps.get_model("review", "RoutingCursor")
    Cursor = apps.get_model("pipeline", "Cursor")
    for cursor in Cursor.objects.filter(name__startswith=PREFIX):
        RoutingCursor.objects.update_or_create(rule=cursor.name.removeprefix(PREFIX), defaults={"position": cursor.position})


class Migration(migrations.Migration):

    dependencies = [
        ('review', '0006_queue_guidelines'),
        ('pipeline', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(copy_to_pipeline, copy_back),
        migrations.DeleteModel(
            name='RoutingCursor',
        ),
    ]
