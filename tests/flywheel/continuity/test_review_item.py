"""The continuity review item names the turns the classifier was unsure about by their number
in the transcript ("turn #3"), which is what a reviewer sees, never by a database id."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.factories import session_with_turns


def test_the_item_names_the_unsure_turn_by_its_number(annotator):
    from flywheel.review.services import review_item_claim_next, review_item_enqueue

    session = session_with_turns(
        [("user", "Recommend a novel"), ("assistant", "Try Dune."), ("user", "How do I fix a flat tyre?")]
    )
    turn = session.messages.get(seq=3)
    item = review_item_enqueue(
        kind="continuity",
        subject_type="session",
        subject_id=str(session.id),
        session_id=session.id,
        payload={"message_ids": [turn.id], "model_version": "test", "probabilities": {str(turn.id): 0.48}},
    )
    assert review_item_claim_next(queue=item.queue, user=annotator).item == item
    client = Client()
    client.force_login(annotator)
    page = client.get(reverse("review:item", args=[item.id])).content.decode()
    assert f'<a href="#turn-{turn.id}">turn #3</a>: P(continues) = 0.48' in page
    assert f"message {turn.id}" not in page
