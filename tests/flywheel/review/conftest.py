"""Fixtures of the review tests: conversations with a thumbs-down answer, queues, reviewers."""

from __future__ import annotations

import pytest

from flywheel.review import kinds
from flywheel.review.kinds import ChoiceField, ReviewKind, review_kind_register
from tests.factories import FeedbackFactory, session_with_turns

# (item id, decision, username) of every decision the test_recording kind applied.
APPLIED: list = []


class RecordingKind(ReviewKind):
    def apply(self, item, decision, user):
        APPLIED.append((item.id, decision, user.username))


@pytest.fixture
def recording_kind(monkeypatch):
    """The test_recording kind (one yes/no field; train and continuity turn controls), registered
    in a copy of the kind registry, which is as it was after the test."""
    monkeypatch.setattr(kinds, "_KINDS", kinds._KINDS.copy())
    APPLIED.clear()
    return review_kind_register(
        RecordingKind(
            name="test_recording",
            title="Recording",
            fields=[ChoiceField("ok", "OK?", (("yes", "yes"), ("no", "no")))],
            turn_controls={"train", "continuity"},
        )
    )


@pytest.fixture
def conversation(db):
    """A four-turn session whose second answer got a thumbs-down."""
    session = session_with_turns(
        [
            ("user", "How do I reverse a list in Python?"),
            ("assistant", "Use `reversed(items)` or `items[::-1]`."),
            ("user", "And sort it?"),
            ("assistant", "Call items.sort() — it returns the sorted list."),
        ]
    )
    answer = session.messages.get(seq=4)
    FeedbackFactory(message=answer, rating=-1, comment="sort() returns None")
    return session


@pytest.fixture
def badcase_item(conversation):
    from flywheel.review.services import review_item_enqueue

    answer = conversation.messages.get(seq=4)
    return review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        session_id=conversation.id,
        message_id=answer.id,
        payload={"comment": "x"},
    )


@pytest.fixture
def make_reviewers(make_user):
    def make(count: int, role: str = "annotator"):
        return [make_user(role, username=f"{role}-{index}") for index in range(count)]

    return make


def good_decision(session, **overrides) -> dict:
    answer = session.messages.get(seq=4)
    decision = {
        "verdict": "bad",
        "task_type": "code",
        "quality": "2",
        "turns": {str(answer.id): {"train": True, "edited": "items.sort() sorts in place and returns None."}},
    }
    decision.update(overrides)
    return decision
