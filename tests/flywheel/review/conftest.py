"""Fixtures of the review tests: conversations with a thumbs-down answer, queues, reviewers."""

from __future__ import annotations

import pytest

from tests.factories import FeedbackFactory, session_with_turns


@pytest.fixture
def conversation(db):
    """A four-turn session whose second answer got a thumbs-down."""
    session = session_with_turns([
        ("user", "How do I reverse a list in Python?"),
        ("assistant", "Use `reversed(items)` or `items[::-1]`."),
        ("user", "And sort it?"),
        ("assistant", "Call items.sort() — it returns the sorted list."),
    ])
    answer = session.messages.get(seq=4)
    FeedbackFactory(message=answer, rating=-1, comment="sort() returns None")
    return session


@pytest.fixture
def badcase_item(conversation):
    from flywheel.review.services import review_item_enqueue

    answer = conversation.messages.get(seq=4)
    return review_item_enqueue(kind="badcase_answer", subject_type="message", subject_id=str(answer.id),
                               session_id=conversation.id, message_id=answer.id, payload={"comment": "x"})


@pytest.fixture
def make_reviewers(make_user):
    def make(count: int, role: str = "annotator"):
        return [make_user(role, username=f"{role}-{index}") for index in range(count)]

    return make


def good_decision(session, **overrides) -> dict:
    answer = session.messages.get(seq=4)
    decision = {"verdict": "bad", "task_type": "code", "quality": "2",
                "turns": {str(answer.id): {"train": True, "edited": "items.sort() sorts in place and returns None."}}}
    decision.update(overrides)
    return decision
