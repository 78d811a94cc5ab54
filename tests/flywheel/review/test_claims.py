from datetime import timedelta

import pytest
from django.utils import timezone

from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue
from flywheel.review.services import (
    ReviewError,
    review_item_claim_next,
    review_item_decline,
    review_item_enqueue,
    review_item_release,
    review_item_skip,
    review_queue_save,
)
from tests.factories import session_with_turns


def make_items(count: int, *, queue_slug: str | None = None, kind: str = "badcase_answer"):
    items = []
    for index in range(count):
        session = session_with_turns([("user", f"q{index}"), ("assistant", f"a{index}")])
        answer = session.messages.get(seq=2)
        items.append(
            review_item_enqueue(
                kind=kind,
                subject_type="message",
                subject_id=str(answer.id),
                session_id=session.id,
                message_id=answer.id,
                payload={},
                queue_slug=queue_slug,
            )
        )
    return items


def test_enqueueing_the_same_subject_twice_returns_the_first_item(badcase_item):
    again = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=badcase_item.subject_id,
        payload={},
        message_id=badcase_item.message_id,
    )
    assert again.id == badcase_item.id
    assert ReviewItem.objects.count() == 1
    assert ReviewQueue.objects.get().items_total == 1


def test_enqueueing_creates_the_kinds_default_queue(badcase_item):
    queue = badcase_item.queue
    assert (queue.kind, queue.is_default, queue.slug) == ("badcase_answer", True, "badcase-answer")


def test_enqueueing_an_unknown_kind_is_refused(db):
    with pytest.raises(ValueError, match="unknown review kind"):
        review_item_enqueue(kind="nonsense", subject_type="x", subject_id="1", payload={})


def test_items_are_routed_to_the_first_queue_whose_filters_match(engineer, conversation):
    review_queue_save(
        user=engineer, slug="chat-bad", name="Chat app", kind="badcase_answer", filters={"app": "chat"}, priority=5
    )
    review_queue_save(
        user=engineer, slug="other-bad", name="Other app", kind="badcase_answer", filters={"app": "other"}, priority=9
    )
    answer = conversation.messages.get(seq=4)
    item = review_item_enqueue(
        kind="badcase_answer", subject_type="message", subject_id=str(answer.id), message_id=answer.id, payload={}
    )
    assert item.queue.slug == "chat-bad"
    assert item.session_id == conversation.id


def test_a_claim_goes_to_the_highest_priority_item_first(annotator):
    low, high = make_items(2)
    ReviewItem.objects.filter(id=high.id).update(priority=3)
    claim = review_item_claim_next(queue=low.queue, user=annotator)
    assert claim.item.id == high.id


def test_claiming_again_resumes_the_running_claim(annotator, badcase_item):
    first = review_item_claim_next(queue=badcase_item.queue, user=annotator)
    second = review_item_claim_next(queue=badcase_item.queue, user=annotator)
    assert (second.item.id, second.resumed) == (first.item.id, True)
    assert ReviewAssignment.objects.count() == 1


def test_an_item_needing_one_reviewer_is_not_offered_to_a_second(badcase_item, make_reviewers):
    first, second = make_reviewers(2)
    assert review_item_claim_next(queue=badcase_item.queue, user=first) is not None
    assert review_item_claim_next(queue=badcase_item.queue, user=second) is None


def test_an_item_needing_two_reviewers_is_offered_to_two_different_people(engineer, make_reviewers, conversation):
    review_queue_save(user=engineer, slug="double", name="Double", kind="badcase_answer", reviewers_per_item=2)
    answer = conversation.messages.get(seq=4)
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        message_id=answer.id,
        payload={},
        queue_slug="double",
    )
    first, second, third = make_reviewers(3)
    assert review_item_claim_next(queue=item.queue, user=first).item.id == item.id
    assert review_item_claim_next(queue=item.queue, user=second).item.id == item.id
    assert review_item_claim_next(queue=item.queue, user=third) is None


def test_a_lapsed_lease_makes_the_item_claimable_again(badcase_item, make_reviewers):
    first, second = make_reviewers(2)
    review_item_claim_next(queue=badcase_item.queue, user=first)
    past = timezone.now() - timedelta(seconds=1)
    ReviewAssignment.objects.update(lease_expires_at=past)
    ReviewItem.objects.update(lease_expires_at=past)
    claim = review_item_claim_next(queue=badcase_item.queue, user=second)
    assert claim.item.id == badcase_item.id
    assert ReviewAssignment.objects.get(reviewer=first).state == ReviewAssignment.State.EXPIRED


def test_a_skipped_item_comes_back_to_the_same_reviewer_after_every_other_item(db, annotator):
    first, second, third = make_items(3)
    queue = first.queue
    assert review_item_claim_next(queue=queue, user=annotator).item.id == first.id
    review_item_skip(item_id=first.id, user=annotator)
    assert review_item_claim_next(queue=queue, user=annotator).item.id == second.id
    review_item_skip(item_id=second.id, user=annotator)
    assert review_item_claim_next(queue=queue, user=annotator, include_skipped=False).item.id == third.id
    review_item_release(item_id=third.id, user=annotator)
    assert review_item_claim_next(queue=queue, user=annotator).item.id == third.id
    review_item_decline(item_id=third.id, user=annotator)
    # Only skipped items are left: the longest-skipped first.
    assert review_item_claim_next(queue=queue, user=annotator, include_skipped=False) is None
    assert review_item_claim_next(queue=queue, user=annotator).item.id == first.id


def test_not_for_me_is_never_offered_to_that_reviewer_again_but_is_to_others(badcase_item, make_reviewers):
    first, second = make_reviewers(2)
    review_item_claim_next(queue=badcase_item.queue, user=first)
    review_item_decline(item_id=badcase_item.id, user=first)
    assert review_item_claim_next(queue=badcase_item.queue, user=first) is None
    assert ReviewAssignment.objects.get(reviewer=first).state == ReviewAssignment.State.DECLINED
    assert review_item_claim_next(queue=badcase_item.queue, user=second).item.id == badcase_item.id


def test_the_count_on_my_queues_is_what_start_can_give_me(db, make_reviewers):
    from flywheel.review.selectors import review_claimable_count

    me, other = make_reviewers(2)
    items = make_items(4)
    queue = items[0].queue
    assert review_claimable_count(queue=queue, user=me) == {"count": 4, "capped": False, "skipped": 0, "held": False}
    review_item_claim_next(queue=queue, user=other)  # one slot taken by someone else
    review_item_claim_next(queue=queue, user=me)
    review_item_skip(item_id=items[1].id, user=me)
    review_item_claim_next(queue=queue, user=me)
    review_item_decline(item_id=items[2].id, user=me)
    review_item_claim_next(queue=queue, user=me)  # held by me now
    counted = review_claimable_count(queue=queue, user=me)
    assert counted == {"count": 2, "capped": False, "skipped": 1, "held": True}
    offered = set()
    while (claim := review_item_claim_next(queue=queue, user=me)) is not None and claim.item.id not in offered:
        offered.add(claim.item.id)
        review_item_skip(item_id=claim.item.id, user=me)
    assert len(offered) == counted["count"]


def test_a_released_item_goes_back_to_the_pool(badcase_item, make_reviewers):
    first, second = make_reviewers(2)
    review_item_claim_next(queue=badcase_item.queue, user=first)
    review_item_release(item_id=badcase_item.id, user=first)
    assert review_item_claim_next(queue=badcase_item.queue, user=second).item.id == badcase_item.id


def test_releasing_an_item_you_do_not_hold_is_refused(badcase_item, annotator):
    with pytest.raises(ReviewError, match="no longer assigned"):
        review_item_release(item_id=badcase_item.id, user=annotator)


def test_annotators_cannot_claim_from_an_engineers_queue(annotator, engineer, conversation):
    queue = review_queue_save(user=engineer, slug="eng", name="Eng", kind="badcase_answer", audience="engineers")
    with pytest.raises(ReviewError, match="engineers"):
        review_item_claim_next(queue=queue, user=annotator)


def test_a_reviewer_who_released_an_item_can_take_it_up_again_on_the_same_row(badcase_item, annotator):
    first = review_item_claim_next(queue=badcase_item.queue, user=annotator)
    review_item_release(item_id=badcase_item.id, user=annotator)
    again = review_item_claim_next(queue=badcase_item.queue, user=annotator)
    assert again.item.id == badcase_item.id
    assert again.assignment.id == first.assignment.id
    assignment = ReviewAssignment.objects.get()
    assert (assignment.state, assignment.finished_at) == (ReviewAssignment.State.CLAIMED, None)
    assert ReviewItem.objects.get().active_claims == 1
