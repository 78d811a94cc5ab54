"""Cursors: how far each reader of new data has read its source table.

A reader (a bad-case source, a routing rule) reads the rows with id > some position in id order,
in batches, and moves its cursor after each batch:

    def step(after: int) -> int:
        ...  # handle the rows with id > after (a batch), idempotently; count only what is new
        return last_id_handled  # or `after` when there was nothing

    cursor_read("routing-rule:low-quality-labels", step)

Why a reader starts behind its cursor. Ids come from a sequence when a row is inserted, not when
its transaction commits: transaction A inserts id 100 and is still open, B inserts 101 and
commits, a reader sees 101 and moves its cursor past it; A commits, and row 100 lies behind the
cursor for good. (SQLite has one writer at a time, so it cannot happen there; PostgreSQL does it
whenever an ingest batch or a labeling job commits while another is open.) So every move also
leaves a mark (position, time) in `CursorMark`, and a run starts from the position the cursor had
FLYWHEEL_CURSOR_REREAD_S seconds before its last mark, not from the cursor itself. A row
still uncommitted when a run passed it was inserted after the cursor's position at the time of
the insert, and commits within FLYWHEEL_CURSOR_REREAD_S (the setting must exceed the longest
transaction that writes a source table, plus one reader's run), so the first run after its
commit still starts below it. Runs mark where they ended even when nothing moved, so once the
window has aged past every row the reader re-reads nothing.

Why not the alternatives. Reading only rows older than PostgreSQL's oldest running transaction
(`pg_snapshot_xmin(pg_current_snapshot())` against each row's `xmin`) is exact, but it is raw SQL
in every reader, does not exist on SQLite, and one long unrelated transaction stalls every reader.
An advisory lock taken by every writer of every source table would serialise the writers and is
easy to forget in a new one. The window costs one indexed range read of recent rows per run,
needs nothing from writers, and works on both databases.

Re-read rows are handled again; readers are idempotent (enqueueing and recording bad cases are
upserts), and every count they report is of what changed (items created, signals that added
something), so a re-read counts nothing.

No lock is taken: a crash between handling a batch and moving the cursor, or two runs at once,
only make a reader see some rows again. Marks only ever state a position that had been read
before their time, so a race can only leave an older mark, i.e. a longer re-read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import Min
from django.db.models.functions import Greatest, Now

from flywheel.pipeline.models import Cursor, CursorMark


def cursor_position(name: str) -> int:
    """Where the reader `name` has read up to; 0 the first time."""
    cursor, _ = Cursor.objects.get_or_create(name=name)
    return cursor.position


def cursor_window(name: str) -> tuple[int, int]:
    """(start, position): a run reads the rows with id > start; those up to `position` were
    read before, but some may have committed since."""
    cursor, _ = Cursor.objects.get_or_create(name=name)
    start = cursor.marks.aggregate(start=Min("position"))["start"]
    return (cursor.position if start is None else min(start, cursor.position)), cursor.position


def cursor_advance(name: str, position: int) -> None:
    """Record that `name` has handled every row up to `position`, and mark where it is now."""
    cursor, _ = Cursor.objects.get_or_create(name=name)
    if not cursor.marks.exists():
        # A cursor's first mark (a new reader, or one from before marks existed): where it stood
        # before this move is where the window starts until the move is old enough.
        CursorMark.objects.create(cursor=cursor, position=cursor.position, at=Now())
    # Greatest: two runs at once never move a cursor backwards.
    Cursor.objects.filter(id=cursor.id).update(position=Greatest("position", position), updated_at=Now())
    # The database's clock, so that marks written by different machines compare.
    mark = CursorMark.objects.create(cursor=cursor, position=max(cursor.position, position), at=Now())
    mark.refresh_from_db(fields=["at"])
    # Keep the newest mark at or before the window's edge (it is where the next run starts) and
    # everything after it.
    edge = mark.at - timedelta(seconds=settings.FLYWHEEL_CURSOR_REREAD_S)
    oldest_needed = cursor.marks.filter(at__lte=edge).order_by("-at").values_list("at", flat=True).first()
    if oldest_needed is not None:
        cursor.marks.filter(at__lt=oldest_needed).delete()


def cursor_read(name: str, step: Callable[[int], int]) -> None:
    """Call `step(after)` from the start of the window behind `name`'s cursor, and again from
    where each call ended, until a call gets no further; move the cursor past each new batch."""
    after, position = cursor_window(name)
    while True:
        reached = step(after)
        if reached <= after:
            break
        if reached > position:
            cursor_advance(name, reached)
            position = reached
        after = reached
    # Even with nothing new: the mark says every row up to here was read now, which is what
    # lets the window behind the cursor close once no transaction can still be writing into it.
    cursor_advance(name, position)
