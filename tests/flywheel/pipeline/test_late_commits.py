"""A row whose transaction commits after a later row's is not lost: PostgreSQL hands out ids at
insert time, so a reader can pass an id whose row is still uncommitted. These tests hold such a
transaction open on a second connection, let a reader pass it, commit it, and check that the next
run picks the row up exactly once, counting it once."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from flywheel.construction.mining import badcase_mine_pending
from flywheel.construction.models import BadCase, BadCaseReason
from flywheel.labeling.models import Label
from flywheel.pipeline.cursors import cursor_position
from flywheel.review.models import ReviewItem
from flywheel.review.routing import routing_run
from tests.factories import FeedbackFactory, session_with_turns

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer at a time: no late commits"),
]


@contextmanager
def held_open(write):
    """Run `write()` in a transaction on another connection and keep it open (uncommitted) until
    the block ends; yields {"row": what write returned}."""
    inserted, release, held, errors = threading.Event(), threading.Event(), {}, []

    def hold():
        try:
            with transaction.atomic():
                held["row"] = write()
                inserted.set()
                release.wait()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)
            inserted.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    inserted.wait()
    try:
        assert not errors, errors
        yield held
    finally:
        release.set()
        thread.join()
    assert not errors, errors


def answer(text: str):
    session = session_with_turns([("user", f"Question about {text}?"), ("assistant", f"A wrong answer about {text}.")])
    return session.messages.get(seq=2)


def test_a_thumbs_down_committed_late_still_goes_to_review_once():
    early, late = answer("rivers"), answer("mountains")
    with held_open(lambda: FeedbackFactory(message=early, rating=-1)) as held:
        committed = FeedbackFactory(message=late, rating=-1)
        assert committed.id > held["row"].id  # the id order is not the commit order
        assert routing_run(only={"thumbs-down-to-badcase"}) == {"thumbs-down-to-badcase": 1}
        assert cursor_position("routing-rule:thumbs-down-to-badcase") == committed.id

    assert routing_run(only={"thumbs-down-to-badcase"}) == {"thumbs-down-to-badcase": 1}
    items = ReviewItem.objects.filter(kind="badcase_answer")
    assert sorted(items.values_list("message_id", flat=True)) == sorted([early.id, late.id])

    assert routing_run(only={"thumbs-down-to-badcase"}) == {"thumbs-down-to-badcase": 0}
    assert items.count() == 2


def test_a_thumbs_down_committed_late_still_becomes_a_bad_case_once():
    early, late = answer("rivers"), answer("mountains")
    with held_open(lambda: FeedbackFactory(message=early, rating=-1)):
        FeedbackFactory(message=late, rating=-1)
        first = badcase_mine_pending()["thumbs_down"]
        assert first == {"signals": 1, "bad_cases_new": 1, "reasons_new": 1}

    second = badcase_mine_pending()["thumbs_down"]
    assert second == {"signals": 1, "bad_cases_new": 1, "reasons_new": 1}
    assert sorted(BadCase.objects.values_list("message_id", flat=True)) == sorted([early.id, late.id])

    again = badcase_mine_pending()["thumbs_down"]
    assert again == {"signals": 0, "bad_cases_new": 0, "reasons_new": 0}
    assert BadCase.objects.count() == 2 and BadCaseReason.objects.count() == 2


def test_a_second_thumbs_down_committed_late_is_added_to_its_answers_reason():
    bad = answer("rivers")
    with held_open(lambda: FeedbackFactory(message=bad, rating=-1)) as held:
        committed = FeedbackFactory(message=bad, rating=-1)
        assert badcase_mine_pending()["thumbs_down"] == {"signals": 1, "bad_cases_new": 1, "reasons_new": 1}

    # The same answer: no new case, no new reason, but one new signal listed in its reason.
    assert badcase_mine_pending()["thumbs_down"] == {"signals": 1, "bad_cases_new": 0, "reasons_new": 0}
    reason = BadCaseReason.objects.get()
    assert sorted(reason.detail["feedback_ids"]) == sorted([held["row"].id, committed.id])
    assert badcase_mine_pending()["thumbs_down"] == {"signals": 0, "bad_cases_new": 0, "reasons_new": 0}


def low_quality_label():
    session = session_with_turns([("user", "Write a sort function."), ("assistant", "def s(x): return x")])
    return Label.objects.create(
        session=session,
        source="llm",
        prompt_version="label-v1",
        model="m",
        task_type="code",
        task_subtype="generation",
        quality=1,
        usable=True,
        trusted=True,
    )


def test_a_label_committed_late_still_goes_to_label_review_once():
    with held_open(low_quality_label) as held:
        committed = low_quality_label()
        assert committed.id > held["row"].id
        assert routing_run(only={"labels-to-review"}) == {"labels-to-review": 1}

    assert routing_run(only={"labels-to-review"}) == {"labels-to-review": 1}
    items = ReviewItem.objects.filter(kind="label")
    assert sorted(items.values_list("subject_id", flat=True)) == sorted([str(held["row"].id), str(committed.id)])

    assert routing_run(only={"labels-to-review"}) == {"labels-to-review": 0}
    assert items.count() == 2
