"""Personal data on the review pages: annotators see the scrubbed text the dataset holds (and
the model is trained on), in the conversation, the comments, the edit boxes, the diff and the
loss preview. Engineers may reveal the original on purpose; each reveal is audited, and an
annotator's attempt is refused."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from flywheel.accounts.models import AuditEvent
from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_claim_next, review_item_enqueue
from tests.factories import FeedbackFactory, session_with_turns

EMAIL, PHONE, IP = "jane.doe@example.com", "+1 415-555-0132", "203.0.113.45"
RAW = (EMAIL, PHONE, IP, "jane.doe", "415-555")
ANSWER = f"Sure: I wrote to {EMAIL} and will ring {PHONE}."
SCRUBBED_ANSWER = "Sure: I wrote to <EMAIL> and will ring <PHONE>."


@pytest.fixture
def private_session(db):
    session = session_with_turns(
        [
            ("user", f"Mail me at {EMAIL} or call {PHONE}, my IP is {IP} thanks"),
            ("assistant", ANSWER),
        ]
    )
    FeedbackFactory(message=session.messages.get(seq=2), rating=-1, comment=f"wrong, ring {PHONE}")
    return session


@pytest.fixture
def private_item(private_session):
    answer = private_session.messages.get(seq=2)
    return review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        session_id=private_session.id,
        message_id=answer.id,
        payload={"comment": f"wrong, ring {PHONE}", "reasons": []},
    )


@pytest.fixture
def annotator_client(client, annotator, private_item):
    review_item_claim_next(queue=private_item.queue, user=annotator)
    client.force_login(annotator)
    return client


def preview_text(html: str) -> str:
    """The loss preview's tokens joined back into text (each token is its own span)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def assert_no_raw_personal_data(html: str) -> None:
    leaked = [value for value in RAW if value in html]
    assert leaked == [], f"raw personal data on the page: {leaked}"


def test_an_annotators_item_page_shows_the_scrubbed_text_and_no_raw_personal_data(annotator_client, private_item):
    html = annotator_client.get(reverse("review:item", args=[private_item.id])).content.decode()
    assert_no_raw_personal_data(html)
    assert "&lt;EMAIL&gt;" in html and "&lt;PHONE&gt;" in html and "&lt;IP&gt;" in html
    assert "wrong, ring &lt;PHONE&gt;" in html  # the user's comment, scrubbed too


def test_the_edit_box_starts_from_the_scrubbed_answer(annotator_client, private_item, private_session):
    answer = private_session.messages.get(seq=2)
    html = annotator_client.get(reverse("review:item", args=[private_item.id])).content.decode()
    assert f'name="turn-{answer.id}-edited"' in html
    assert "Sure: I wrote to &lt;EMAIL&gt; and will ring &lt;PHONE&gt;.</textarea>" in html


def test_an_untouched_scrubbed_answer_is_not_recorded_as_an_edit(annotator_client, private_item, private_session):
    answer = private_session.messages.get(seq=2)
    response = annotator_client.post(
        reverse("review:item_submit", args=[private_item.id]),
        {
            "field-verdict": "bad",
            "field-task_type": "qa",
            "field-quality": "2",
            f"turn-{answer.id}-train": "1",
            f"turn-{answer.id}-edited": SCRUBBED_ANSWER.replace("\n", "\r\n"),
        },
    )
    assert response.status_code == 302
    private_item.refresh_from_db()
    assert private_item.status == ReviewItem.Status.DONE
    assert private_item.final_decision["turns"][str(answer.id)] == {"train": True}


def test_the_diff_compares_the_edit_with_the_scrubbed_answer(annotator_client, private_item, private_session):
    answer = private_session.messages.get(seq=2)
    html = annotator_client.post(
        reverse("review:preview_diff", args=[private_item.id, answer.id]),
        {f"turn-{answer.id}-edited": SCRUBBED_ANSWER.replace("ring", "call")},
    ).content.decode()
    assert_no_raw_personal_data(html)
    assert "<del>ring</del><ins>call</ins>" in html


def test_the_loss_preview_shows_the_text_the_model_is_trained_on(annotator_client, private_item, private_session):
    answer = private_session.messages.get(seq=2)
    html = annotator_client.post(
        reverse("review:preview_loss", args=[private_item.id]), {f"turn-{answer.id}-train": "1"}
    ).content.decode()
    assert 'class="tok tok-loss"' in html
    assert_no_raw_personal_data(preview_text(html))
    assert "<EMAIL>" in preview_text(html) and "<PHONE>" in preview_text(html) and "<IP>" in preview_text(html)


def test_an_edit_with_personal_data_is_previewed_scrubbed_as_the_dataset_would_hold_it(
    annotator_client, private_item, private_session
):
    answer = private_session.messages.get(seq=2)
    html = annotator_client.post(
        reverse("review:preview_loss", args=[private_item.id]),
        {f"turn-{answer.id}-train": "1", f"turn-{answer.id}-edited": f"Write to {EMAIL} instead."},
    ).content.decode()
    assert_no_raw_personal_data(preview_text(html))
    assert "Write to <EMAIL> instead." in preview_text(html)


def test_an_engineer_sees_the_scrubbed_text_until_they_reveal_it(client, engineer, private_item):
    client.force_login(engineer)
    html = client.get(reverse("review:item", args=[private_item.id])).content.decode()
    assert_no_raw_personal_data(html)
    assert reverse("review:item_reveal", args=[private_item.id]) in html
    assert not AuditEvent.objects.filter(action="review.reveal_original").exists()


def test_an_engineers_reveal_shows_the_original_and_writes_one_audit_event(client, engineer, private_item):
    client.force_login(engineer)
    response = client.post(reverse("review:item_reveal", args=[private_item.id]), {"reason": "checking the scrubber"})
    html = response.content.decode()
    assert response.status_code == 200
    assert EMAIL in html and PHONE in html and IP in html
    events = list(AuditEvent.objects.filter(action="review.reveal_original"))
    assert len(events) == 1
    assert (events[0].actor, events[0].target_type, events[0].target_id) == (
        engineer,
        "review_item",
        str(private_item.id),
    )
    assert events[0].detail["reason"] == "checking the scrubber"


def test_revealing_is_a_post_so_a_link_or_a_prefetch_reveals_nothing(client, engineer, private_item):
    client.force_login(engineer)
    assert client.get(reverse("review:item_reveal", args=[private_item.id])).status_code == 405
    assert not AuditEvent.objects.filter(action="review.reveal_original").exists()


def test_an_annotators_reveal_attempt_is_refused(annotator_client, private_item):
    html = annotator_client.get(reverse("review:item", args=[private_item.id])).content.decode()
    assert reverse("review:item_reveal", args=[private_item.id]) not in html
    response = annotator_client.post(reverse("review:item_reveal", args=[private_item.id]))
    assert response.status_code == 403
    assert_no_raw_personal_data(response.content.decode())
    assert not AuditEvent.objects.filter(action="review.reveal_original").exists()


def test_a_text_the_scrubber_cannot_clear_is_hidden_not_shown_raw(annotator_client, private_item, settings):
    settings.FLYWHEEL_PII_MAX_CHARS = 10  # every turn is now too long to scrub: fail closed
    html = annotator_client.get(reverse("review:item", args=[private_item.id])).content.decode()
    assert_no_raw_personal_data(html)
    assert "could not be cleared of personal data" in html
    preview = annotator_client.post(reverse("review:preview_loss", args=[private_item.id]), {}).content.decode()
    assert_no_raw_personal_data(preview_text(preview))
    assert "could not be cleared of personal data" in preview


def test_a_preference_pair_is_shown_scrubbed(client, annotator, private_session):
    from flywheel.ingest.models import Message, PreferencePair

    chosen = private_session.messages.get(seq=2)
    rejected = Message.objects.create(
        session=private_session,
        external_id="alt",
        seq=3,
        role="assistant",
        content=f"Call {PHONE} yourself.",
        alternative_to=chosen,
        created_at=chosen.created_at,
    )
    pair = PreferencePair.objects.create(
        session=private_session, external_id="pair-1", chosen=chosen, rejected=rejected, source="test"
    )
    item = review_item_enqueue(
        kind="preference_pair", subject_type="pair", subject_id=str(pair.id), session_id=private_session.id, payload={}
    )
    review_item_claim_next(queue=item.queue, user=annotator)
    client.force_login(annotator)
    html = client.get(reverse("review:item", args=[item.id])).content.decode()
    assert_no_raw_personal_data(html)
    assert "Call &lt;PHONE&gt; yourself." in html
