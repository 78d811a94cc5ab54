"""Cursors: how far each reader of new data has read its source table.

A reader (a bad-case source, a routing rule) reads rows past its position in batches and moves
the cursor after each batch it has handled:

    position = cursor_position("routing-rule:low-quality-labels")
    while True:
        new_position = ...  # handle the rows with id > position, idempotently
        if new_position <= position:
            break
        cursor_advance("routing-rule:low-quality-labels", new_position)
        position = new_position

No lock is taken: a crash between handling a batch and moving the cursor, or two runs at once,
only make a reader see some rows twice, and readers are idempotent.
"""

from __future__ import annotations

from django.db.models.functions import Greatest

from flywheel.pipeline.models import Cursor


def cursor_position(name: str) -> int:
    """Where the reader `name` has read up to; 0 the first time."""
    cursor, _ = Cursor.objects.get_or_create(name=name)
    return cursor.position


def cursor_advance(name: str, position: int) -> None:
    """Record that `name` has handled every row up to `position`."""
    # Greatest: two runs at once never move a cursor backwards.
    Cursor.objects.filter(name=name).update(position=Greatest("position", position))
