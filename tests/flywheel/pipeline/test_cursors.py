"""The one cursor table: readers start at 0, move forward only, re-read the window of rows they
passed FLYWHEEL_CURSOR_REREAD_S before their last move (and no more, once it has aged), and keep
the positions the old per-app cursor tables held when the migrations move them here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F

from flywheel.pipeline.cursors import cursor_advance, cursor_position, cursor_read, cursor_window
from flywheel.pipeline.models import Cursor, CursorMark


@pytest.mark.django_db
def test_a_new_reader_starts_at_zero_and_moves_forward():
    assert cursor_position("routing-rule:a") == 0
    cursor_advance("routing-rule:a", 42)
    assert cursor_position("routing-rule:a") == 42
    assert cursor_position("routing-rule:b") == 0


@pytest.mark.django_db
def test_a_cursor_never_moves_backwards_when_two_runs_overlap():
    cursor_position("badcase-source:a")
    cursor_advance("badcase-source:a", 100)
    cursor_advance("badcase-source:a", 60)  # a slower run that started from an older position
    assert cursor_position("badcase-source:a") == 100


def age_marks(name: str, windows: float = 2) -> None:
    """Move the cursor's marks this many re-read windows into the past (instead of waiting)."""
    CursorMark.objects.filter(cursor__name=name).update(
        at=F("at") - timedelta(seconds=windows * settings.FLYWHEEL_CURSOR_REREAD_S)
    )


@pytest.mark.django_db
def test_a_new_reader_re_reads_from_zero_until_its_first_move_has_aged():
    cursor_advance("routing-rule:a", 42)
    assert cursor_window("routing-rule:a") == (0, 42)
    age_marks("routing-rule:a")
    cursor_advance("routing-rule:a", 50)
    assert cursor_window("routing-rule:a") == (42, 50)


@pytest.mark.django_db
def test_a_cursor_from_before_marks_re_reads_from_where_it_stood_not_from_zero():
    Cursor.objects.create(name="routing-rule:old", position=1000)
    assert cursor_window("routing-rule:old") == (1000, 1000)
    cursor_advance("routing-rule:old", 1200)
    assert cursor_window("routing-rule:old") == (1000, 1200)


@pytest.mark.django_db
def test_marks_older_than_the_window_are_pruned_but_the_one_it_starts_from():
    for position in (10, 20, 30, 40):
        cursor_advance("badcase-source:a", position)
    age_marks("badcase-source:a")
    cursor_advance("badcase-source:a", 50)
    # Where it stood before (0), 10, 20 and 30 are gone; 40 is where the next run starts.
    marks = CursorMark.objects.filter(cursor__name="badcase-source:a").order_by("at")
    assert list(marks.values_list("position", flat=True)) == [40, 50]
    assert cursor_window("badcase-source:a") == (40, 50)


@pytest.mark.django_db
def test_a_run_re_reads_the_window_and_stops_re_reading_once_a_run_after_it_aged_has_marked_it():
    rows, calls = [3, 7, 12], []

    def step(after: int) -> int:
        calls.append(after)
        return next((r for r in rows if r > after), after)

    def run() -> list[int]:
        calls.clear()
        cursor_read("routing-rule:r", step)
        return list(calls)

    assert run() == [0, 3, 7, 12] and cursor_position("routing-rule:r") == 12
    assert run() == [0, 3, 7, 12]  # a row below 12 may still commit: read them all again
    age_marks("routing-rule:r")
    # No transaction can still be writing below 12: this run reads them once more, after they all
    # committed, and its mark says so...
    assert run() == [0, 3, 7, 12]
    assert run() == [12]  # ...so the next one starts at the cursor
    rows.append(20)
    assert run() == [12, 20] and cursor_position("routing-rule:r") == 20


OLD = [("construction", "0003_badcase_proposed_tests"), ("review", "0006_queue_guidelines")]
NEW = [("construction", "0004_mining_cursors_to_pipeline"), ("review", "0007_routing_cursors_to_pipeline")]


@pytest.mark.django_db(transaction=True)
def test_the_migrations_copy_the_old_cursor_tables_positions_and_drop_them():
    executor = MigrationExecutor(connection)
    executor.migrate(OLD)
    old = executor.loader.project_state(OLD).apps
    old.get_model("construction", "MiningCursor").objects.create(source="thumbs_down", position=17)
    old.get_model("review", "RoutingCursor").objects.create(rule="labels-to-review", position=23)
    Cursor.objects.create(name="routing-rule:labels-to-review", position=5)  # a stale copy: the larger wins

    executor = MigrationExecutor(connection)
    executor.migrate(NEW)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the full schema for the next tests

    assert dict(Cursor.objects.values_list("name", "position")) == {
        "badcase-source:thumbs_down": 17,
        "routing-rule:labels-to-review": 23,
    }
    tables = connection.introspection.table_names()
    assert "construction_miningcursor" not in tables and "review_routingcursor" not in tables
