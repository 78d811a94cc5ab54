"""The undo period: a submitted decision can be taken back for FLYWHEEL_REVIEW_UNDO_SECONDS
before it is final and applied; the job system applies it once the period is over, exactly
once; after that an engineer can reopen the item (recorded)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from flywheel.accounts.models import AuditEvent
from flywheel.jobs.models import Job
from flywheel.review.models import ReviewAssignment, ReviewItem
from flywheel.review.services import (
    ReviewError,
    review_item_claim_next,
    review_item_enqueue,
    review_item_finalize,
    review_item_reopen,
    review_item_submit,
    review_item_undo,
)
from tests.flywheel.review.conftest import APPLIED

DECISION = {"ok": "yes", "note": "looks right"}


@pytest.fixture
def undo_period(settings):
    settings.FLYWHEEL_REVIEW_UNDO_SECONDS = 30
    return 30


@pytest.fixture
def item(recording_kind, conversation):
    return review_item_enqueue(
        kind="test_recording",
        subject_type="session",
        subject_id=str(conversation.id),
        session_id=conversation.id,
        payload={},
    )


def _submit(item, user, decision=DECISION):
    assert review_item_claim_next(queue=item.queue, user=user).item.id == item.id
    review_item_submit(item_id=item.id, user=user, decision=decision)


def _end_undo_periods(item):
    ReviewAssignment.objects.filter(item=item).update(undo_until=timezone.now() - timedelta(seconds=1))


def test_a_submitted_decision_waits_for_its_undo_period_before_it_is_applied(undo_period, item, annotator):
    _submit(item, annotator)
    item.refresh_from_db()
    assignment = ReviewAssignment.objects.get(item=item)
    assert item.status == ReviewItem.Status.OPEN and item.submitted_count == 1 and APPLIED == []
    assert assignment.state == "submitted" and assignment.undo_until == assignment.finished_at + timedelta(seconds=30)
    assert Job.objects.get(kind="review.finalize").payload == {"item_id": item.id}
    early = review_item_finalize(item_id=item.id)
    assert early["state"] == "waiting" and 0 < early["retry_in"] <= 30.5
    _end_undo_periods(item)
    assert review_item_finalize(item_id=item.id) == {"state": "decided"}
    assert review_item_finalize(item_id=item.id) == {"state": "already"}  # a second delivery
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DONE and item.final_decision == DECISION
    assert [(item_id, username) for item_id, _, username in APPLIED] == [(item.id, annotator.username)]
    assert AuditEvent.objects.filter(action="review.decide", target_id=str(item.id)).count() == 1
    with pytest.raises(ReviewError, match="too late to undo"):
        review_item_undo(item_id=item.id, user=annotator)


def test_undo_gives_the_item_back_to_its_reviewer_with_the_decision_as_a_draft(undo_period, item, annotator):
    _submit(item, annotator)
    review_item_undo(item_id=item.id, user=annotator)
    item.refresh_from_db()
    assignment = ReviewAssignment.objects.get(item=item)
    assert (item.submitted_count, item.active_claims, item.status) == (0, 1, "open")
    assert assignment.state == "claimed" and assignment.decision == DECISION and assignment.undo_until is None
    assert review_item_finalize(item_id=item.id) == {"state": "waiting"}  # the job of the undone submission
    assert APPLIED == []
    review_item_submit(item_id=item.id, user=annotator, decision={"ok": "no"})
    _end_undo_periods(item)
    review_item_finalize(item_id=item.id)
    item.refresh_from_db()
    assert item.final_decision == {"ok": "no"} and len(APPLIED) == 1
    assert AuditEvent.objects.filter(action="review.undo", actor=annotator).count() == 1


def test_nobody_else_can_undo_my_decision(undo_period, item, make_reviewers):
    mine, theirs = make_reviewers(2)
    _submit(item, mine)
    with pytest.raises(ReviewError, match="too late to undo"):
        review_item_undo(item_id=item.id, user=theirs)


def test_with_no_undo_period_a_decision_is_final_at_once(settings, item, annotator):
    settings.FLYWHEEL_REVIEW_UNDO_SECONDS = 0
    _submit(item, annotator)
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DONE and len(APPLIED) == 1 and not Job.objects.exists()


def test_an_engineer_reopens_a_final_decision_and_it_is_recorded(item, annotator, engineer):
    _submit(item, annotator)
    with pytest.raises(PermissionDenied):
        review_item_reopen(item_id=item.id, user=annotator)
    review_item_reopen(item_id=item.id, user=engineer, reason="wrong guideline")
    item.refresh_from_db()
    item.queue.refresh_from_db()
    assert (item.status, item.final_decision, item.submitted_count) == ("open", None, 0)
    assert item.queue.items_finished == 0
    assert ReviewAssignment.objects.get(item=item).state == "withdrawn"
    event = AuditEvent.objects.get(action="review.reopen")
    assert event.actor == engineer and event.detail["reason"] == "wrong guideline"
    assert event.detail["decision"] == DECISION
    # Reviewed again, by the same person too, and the new decision applied.
    _submit(item, annotator, {"ok": "no"})
    item.refresh_from_db()
    assert item.status == "done" and item.final_decision == {"ok": "no"} and len(APPLIED) == 2
    review_item_reopen(item_id=item.id, user=engineer)
    with pytest.raises(ReviewError, match="nothing to reopen"):  # open already
        review_item_reopen(item_id=item.id, user=engineer)


def test_the_toast_and_my_recent_items_undo_and_the_form_comes_back_filled_in(
    client, undo_period, badcase_item, annotator, conversation
):
    answer = conversation.messages.get(seq=4)
    client.force_login(annotator)
    client.post(reverse("review:claim_next", args=[badcase_item.queue.slug]))
    client.post(
        reverse("review:item_submit", args=[badcase_item.id]),
        {"field-verdict": "bad", "field-task_type": "code", "field-quality": "2", f"turn-{answer.id}-train": "1"},
    )
    home = client.get(reverse("review:home")).content.decode()
    assert 'id="undo-toast"' in home and f"Item #{badcase_item.id} submitted." in home
    assert f'data-recent="{badcase_item.id}" data-progress="undo"' in home
    response = client.post(reverse("review:item_undo", args=[badcase_item.id]), follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("review:item", args=[badcase_item.id])
    assert "Undone" in page and 'value="bad" checked' in page and 'value="code" checked' in page
    assert ReviewAssignment.objects.get(item=badcase_item).state == "claimed"


def test_an_engineer_reopens_from_the_item_page(client, badcase_item, annotator, engineer, conversation):
    assert review_item_claim_next(queue=badcase_item.queue, user=annotator)
    review_item_submit(
        item_id=badcase_item.id, user=annotator, decision={"verdict": "acceptable", "task_type": "qa", "quality": "4"}
    )
    client.force_login(engineer)
    assert 'id="reopen-form"' in client.get(reverse("review:item", args=[badcase_item.id])).content.decode()
    client.post(reverse("review:item_reopen", args=[badcase_item.id]), {"reason": "second look"})
    badcase_item.refresh_from_db()
    assert badcase_item.status == "open"
    client.force_login(annotator)
    assert client.post(reverse("review:item_reopen", args=[badcase_item.id])).status_code == 403
