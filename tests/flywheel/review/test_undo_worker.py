"""A real Celery worker applies a decision when its undo period ends: not before, exactly once,
even when the finalizing job is delivered twice."""

from __future__ import annotations

import time

from flywheel.accounts.models import AuditEvent
from flywheel.jobs.models import Job
from flywheel.jobs.services import job_create
from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit
from tests.factories import FeedbackFactory, session_with_turns
from tests.support.waiting import wait_for

UNDO_SECONDS = 3


def test_the_worker_applies_the_decision_once_when_the_undo_period_ends(settings, celery_worker, annotator):
    from flywheel.construction.models import BadCaseReason

    settings.FLYWHEEL_REVIEW_UNDO_SECONDS = UNDO_SECONDS
    session = session_with_turns([("user", "What is 17 times 23?"), ("assistant", "17 × 23 = 401.")])
    answer = session.messages.get(seq=2)
    FeedbackFactory(message=answer, rating=-1)
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        payload={},
        session_id=session.id,
        message_id=answer.id,
    )
    assert review_item_claim_next(queue=item.queue, user=annotator).item.id == item.id
    submitted_at = time.monotonic()
    review_item_submit(
        item_id=item.id, user=annotator, decision={"verdict": "bad", "task_type": "math", "quality": "1"}
    )
    time.sleep(1)
    assert ReviewItem.objects.get(id=item.id).status == "open"  # still in its undo period
    wait_for(
        lambda: ReviewItem.objects.get(id=item.id).status == "done", timeout=60, what="the worker to finalize the item"
    )
    assert time.monotonic() - submitted_at >= UNDO_SECONDS
    # A second delivery of the same work changes nothing.
    duplicate = job_create(kind="review.finalize", payload={"item_id": item.id})
    wait_for(lambda: Job.objects.get(id=duplicate.id).status == "succeeded", timeout=60, what="the duplicate job")
    assert Job.objects.get(id=duplicate.id).result == {"state": "already"}
    assert AuditEvent.objects.filter(action="review.decide", target_id=str(item.id)).count() == 1
    assert BadCaseReason.objects.filter(bad_case__message=answer, source="review").count() == 1
