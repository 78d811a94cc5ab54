"""The demo's automatic decisions are no person's work: they count in no agreement or
throughput figure and in nobody's "My day" (reported: the demo showed agreement 1.000 and
kappa 1.0, and credited the real `annotator` login with its decisions)."""

from __future__ import annotations

from flywheel.review.models import ReviewAssignment, ReviewItem
from flywheel.review.selectors import review_my_day
from flywheel.review.services import (
    review_item_claim_next,
    review_item_enqueue,
    review_item_submit,
    review_queue_save,
)
from flywheel.review.stats import review_agreement, review_throughput
from tests.factories import FeedbackFactory, session_with_turns


def _flagged_items(count: int, queue_slug: str) -> list[ReviewItem]:
    items = []
    for index in range(count):
        session = session_with_turns([("user", f"question {index}"), ("assistant", f"answer {index}")])
        answer = session.messages.get(seq=2)
        FeedbackFactory(message=answer, rating=-1)
        items.append(
            review_item_enqueue(
                kind="badcase_answer",
                subject_type="message",
                subject_id=str(answer.id),
                payload={},
                session_id=session.id,
                message_id=answer.id,
                queue_slug=queue_slug,
            )
        )
    return items


def test_demo_decisions_are_left_out_of_agreement_throughput_and_my_day(client, make_user):
    from flywheel.demo.decisions import demo_review_decide

    annotator = make_user("annotator", "annotator")
    make_user("annotator", "annotator2")
    engineer = make_user("engineer", "engineer")
    review_queue_save(user=engineer, slug="twice", name="Twice", kind="badcase_answer", reviewers_per_item=2)
    demo_items = _flagged_items(3, "twice")
    decided = demo_review_decide(seed=7, sessions=4, leave_open=0.0)
    assert decided == {"badcase_answer": 3}
    assert ReviewItem.objects.filter(id__in=[i.id for i in demo_items], status="done").count() == 3
    assert set(ReviewAssignment.objects.values_list("automatic", flat=True)) == {True}

    assert review_my_day(user=annotator)["done"] == 0
    figures = review_throughput()
    assert figures["rows"] == [] and figures["automatic"] == 6
    assert all(row["units"] == 0 for row in review_agreement())

    # Two people review one more item: only their decisions count.
    people = [make_user("annotator", "person-1"), make_user("annotator", "person-2")]
    (item,) = _flagged_items(1, "twice")
    for person, verdict in zip(people, ("bad", "acceptable")):
        assert review_item_claim_next(queue=item.queue, user=person).item.id == item.id
        review_item_submit(
            item_id=item.id, user=person, decision={"verdict": verdict, "task_type": "qa", "quality": "3"}
        )
    verdict_row = next(row for row in review_agreement() if row["field"] == "verdict")
    assert verdict_row["units"] == 1 and verdict_row["percent"] == 0.0 and verdict_row["raters"] == 2
    assert {row["username"] for row in review_throughput()["rows"]} == {"person-1", "person-2"}

    client.force_login(engineer)
    assert "6 automatic decisions made by the demo" in client.get("/review/throughput/").content.decode()
    client.force_login(annotator)
    assert '<strong id="day-done">0</strong>' in client.get("/review/").content.decode()
