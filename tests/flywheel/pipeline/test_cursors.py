"""The one cursor table: readers start at 0, move forward only, and keep the positions the
old per-app cursor tables held when the migrations move them here."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from flywheel.pipeline.cursors import cursor_advance, cursor_position
from flywheel.pipeline.models import Cursor


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
