"""Reads of the review app. Lists page by key (never OFFSET) and count with a cap."""

from __future__ import annotations

from django.db.models import Q

from flywheel.ingest.models import Message
from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue


def review_decisions_final(*, kind: str, after_id: int = 0, limit: int = 500) -> list[ReviewItem]:
    """Decided items of a kind, oldest id first, for apps that consume decisions in batches:
    pass the last id you handled as `after_id`."""
    return list(ReviewItem.objects.filter(kind=kind, status=ReviewItem.Status.DONE, id__gt=after_id)
                .order_by("id")[:limit])


def message_review_overrides(*, message_ids: list[int]) -> dict[int, dict]:
    """What final review decisions say about these messages: {message id: {"train": bool,
    "edited": str, "continuity": bool}} (keys present only when a reviewer set them; a later
    decision wins). The dataset builder reads train flags and corrected answers from here."""
    if not message_ids:
        return {}
    wanted = {str(i) for i in message_ids}
    session_ids = Message.objects.filter(id__in=message_ids).values_list("session_id", flat=True).distinct()
    overrides: dict[int, dict] = {}
    decided = (ReviewItem.objects.filter(session_id__in=session_ids, status=ReviewItem.Status.DONE)
               .exclude(kind="adjudication").order_by("decided_at", "id").values_list("final_decision", flat=True))
    for decision in decided:
        for key, turn in ((decision or {}).get("turns") or {}).items():
            if key in wanted:
                overrides.setdefault(int(key), {}).update(turn)
    return overrides


def review_session_panel(*, session_id: int) -> dict:
    """The review items about one session, for the session page."""
    items = list(ReviewItem.objects.filter(session_id=session_id).select_related("queue", "decided_by")
                 .order_by("-id")[:50])
    reviewers: dict[int, list] = {}
    for assignment in (ReviewAssignment.objects.filter(item__in=items).select_related("reviewer")
                       .order_by("claimed_at")):
        reviewers.setdefault(assignment.item_id, []).append(assignment)
    for item in items:
        item.reviewer_turns = reviewers.get(item.id, [])
    return {"items": items}


def review_queues_for(*, user) -> list[ReviewQueue]:
    from flywheel.accounts.roles import ENGINEERS, user_has_any_role

    queues = ReviewQueue.objects.filter(active=True)
    if not user_has_any_role(user, ENGINEERS):
        queues = queues.filter(audience=ReviewQueue.Audience.REVIEWERS)
    return list(queues.order_by("-priority", "name"))


def review_open_count(*, queue: ReviewQueue, cap: int = 10_000) -> tuple[int, bool]:
    """Open items in a queue, counted up to `cap` (an index range scan, never the whole table);
    (count, capped)."""
    count = ReviewItem.objects.filter(Q(queue=queue) & Q(status=ReviewItem.Status.OPEN))[: cap + 1].count()
    return min(count, cap), count > cap
