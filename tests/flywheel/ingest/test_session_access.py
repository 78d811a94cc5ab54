"""Who may open which session page: a role × object table over the session list and two
sessions, one the annotator was given (a review item they claimed) and one they were not.

Engineers and admins see every session as stored. Annotators open only the sessions of items
given to them (any other answers 404, exactly like a session that does not exist) and read them
scrubbed. Ops launch training runs from datasets and have no door to raw chat logs (403)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import FeedbackFactory, session_with_turns

EMAIL, PHONE, IP = "jane.doe@example.com", "+1 415-555-0132", "203.0.113.45"
PRIVATE = f"Mail me at {EMAIL} or call {PHONE}, my IP is {IP} thanks"


def _session_about(name: str):
    session = session_with_turns(
        [("user", PRIVATE), ("assistant", f"I will write to {EMAIL}.")], external_id=name, metadata={"contact": EMAIL}
    )
    FeedbackFactory(message=session.messages.get(seq=2), rating=-1, comment=f"reach me on {PHONE}")
    return session


@pytest.fixture
def world(db, make_user):
    from flywheel.review.services import review_item_claim_next, review_item_enqueue

    annotator, other = make_user("annotator", "given-annotator"), make_user("annotator", "other-annotator")
    users = {
        "annotator": annotator,
        "engineer": make_user("engineer"),
        "ops": make_user("ops"),
        "admin": make_user("admin"),
    }
    sessions = {"given": _session_about("given-session"), "not_given": _session_about("not-given-session")}
    items = {}
    for name, session in sessions.items():
        answer = session.messages.get(seq=2)
        items[name] = review_item_enqueue(
            kind="badcase_answer",
            subject_type="message",
            subject_id=str(answer.id),
            session_id=session.id,
            message_id=answer.id,
            payload={},
        )
    assert review_item_claim_next(queue=items["given"].queue, user=annotator).item == items["given"]
    assert review_item_claim_next(queue=items["not_given"].queue, user=other).item == items["not_given"]
    return {"users": users, "sessions": sessions, "items": items}


def _url(world, target: str) -> str:
    if target == "list":
        return reverse("ingest:session_list")
    return reverse("ingest:session_detail", args=[world["sessions"][target].external_id])


# role -> (session list, session given to the annotator, session not given to them)
TABLE = {
    None: (302, 302, 302),
    "annotator": (403, 200, 404),
    "engineer": (200, 200, 200),
    "ops": (403, 403, 403),
    "admin": (200, 200, 200),
}
CASES = [
    (role, target, status) for role, row in TABLE.items() for target, status in zip(("list", "given", "not_given"), row)
]


@pytest.mark.parametrize(
    ("role", "target", "status"), CASES, ids=[f"{role or 'anonymous'}-{target}" for role, target, _ in CASES]
)
def test_each_role_reaches_exactly_the_sessions_it_may(world, role, target, status):
    client = Client()
    if role:
        client.force_login(world["users"][role])
    response = client.get(_url(world, target))
    assert response.status_code == status
    if status == 302:
        assert response.url.startswith("/accounts/login/")
    body = response.content.decode()
    if status != 200 or target == "list":
        assert EMAIL not in body and PHONE not in body and IP not in body


@pytest.mark.parametrize("role", ["engineer", "admin"])
def test_engineers_and_admins_read_a_session_as_it_was_stored(world, role):
    client = Client()
    client.force_login(world["users"][role])
    page = client.get(_url(world, "not_given")).content.decode()
    assert EMAIL in page and PHONE in page and IP in page
    assert "contact" in page  # the metadata
    assert "Review" in page and f"#{world['items']['not_given'].id}" in page  # the apps' panels


def test_an_annotator_reads_the_session_of_their_item_scrubbed(world):
    client = Client()
    client.force_login(world["users"]["annotator"])
    page = client.get(_url(world, "given")).content.decode()
    assert EMAIL not in page and PHONE not in page and IP not in page
    assert "&lt;EMAIL&gt;" in page and "&lt;PHONE&gt;" in page and "&lt;IP&gt;" in page
    assert "reach me on &lt;PHONE&gt;" in page  # the feedback comment, scrubbed too
    assert "contact" not in page and "panel" not in page  # neither metadata nor the engineers' panels


def test_an_annotator_keeps_the_session_of_an_item_they_already_submitted(world):
    from flywheel.review.services import review_item_submit

    annotator, item = world["users"]["annotator"], world["items"]["given"]
    answer = world["sessions"]["given"].messages.get(seq=2)
    review_item_submit(
        item_id=item.id,
        user=annotator,
        decision={"verdict": "bad", "task_type": "qa", "quality": "2", "turns": {str(answer.id): {"train": False}}},
    )
    client = Client()
    client.force_login(annotator)
    assert client.get(_url(world, "given")).status_code == 200


def test_an_annotator_asking_for_a_session_that_does_not_exist_gets_the_same_answer(world):
    client = Client()
    client.force_login(world["users"]["annotator"])
    missing = client.get(reverse("ingest:session_detail", args=["no-such-session"]))
    not_given = client.get(_url(world, "not_given"))
    assert missing.status_code == not_given.status_code == 404
