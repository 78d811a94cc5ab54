"""Reads of the review app. Lists page by key (never OFFSET) and count with a cap."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from flywheel.accounts.models import AuditEvent
from flywheel.accounts.roles import ENGINEERS, user_has_any_role
from flywheel.ingest.models import Message
from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue
from flywheel.review.services import review_claimable_items
from flywheel.ui.paging import keyset_page


def review_decisions_final(*, kind: str, after_id: int = 0, limit: int = 500) -> list[ReviewItem]:
    """Decided items of a kind, oldest id first, for apps that consume decisions in batches:
    pass the last id you handled as `after_id`."""
    return list(
        ReviewItem.objects.filter(kind=kind, status=ReviewItem.Status.DONE, id__gt=after_id).order_by("id")[:limit]
    )


def message_review_overrides(*, message_ids: list[int]) -> dict[int, dict]:
    """What final review decisions say about these messages: {message id: {"train": bool,
    "edited": str, "continuity": bool}} (keys present only when a reviewer set them; a later
    decision wins). The dataset builder reads train flags and corrected answers from here."""
    if not message_ids:
        return {}
    wanted = {str(i) for i in message_ids}
    session_ids = Message.objects.filter(id__in=message_ids).values_list("session_id", flat=True).distinct()
    overrides: dict[int, dict] = {}
    decided = (
        ReviewItem.objects.filter(session_id__in=session_ids, status=ReviewItem.Status.DONE)
        .exclude(kind="adjudication")
        .order_by("decided_at", "id")
        .values_list("final_decision", flat=True)
    )
    for decision in decided:
        for key, turn in ((decision or {}).get("turns") or {}).items():
            if key in wanted:
                overrides.setdefault(int(key), {}).update(turn)
    return overrides


def review_session_panel(*, session_id: int) -> dict:
    """The review items about one session, for the session page."""
    items = list(
        ReviewItem.objects.filter(session_id=session_id).select_related("queue", "decided_by").order_by("-id")[:50]
    )
    reviewers: dict[int, list] = {}
    for assignment in ReviewAssignment.objects.filter(item__in=items).select_related("reviewer").order_by("claimed_at"):
        reviewers.setdefault(assignment.item_id, []).append(assignment)
    for item in items:
        item.reviewer_turns = reviewers.get(item.id, [])
    return {"items": items}


def review_session_given_to(*, user, session_id: int) -> bool:
    """Whether this person was given an item about the session: they claimed it (whatever
    became of the claim: submitted, skipped, released, expired) or decided it."""
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        ReviewItem.objects.filter(session_id=session_id)
        .filter(Q(assignments__reviewer=user) | Q(decided_by=user))
        .exists()
    )


def review_queues_for(*, user) -> list[ReviewQueue]:
    queues = ReviewQueue.objects.filter(active=True)
    if not user_has_any_role(user, ENGINEERS):
        queues = queues.filter(audience=ReviewQueue.Audience.REVIEWERS)
    return list(queues.order_by("-priority", "name"))


def review_open_count(*, queue: ReviewQueue, cap: int = 10_000) -> tuple[int, bool]:
    """Open items in a queue, counted up to `cap` (an index range scan, never the whole table);
    (count, capped)."""
    count = ReviewItem.objects.filter(Q(queue=queue) & Q(status=ReviewItem.Status.OPEN))[: cap + 1].count()
    return min(count, cap), count > cap


def review_claimable_count(*, queue: ReviewQueue, user, cap: int = 10_000) -> dict:
    """What Start can give this reviewer in this queue, counted with the claim query itself
    (up to `cap`): {"count", "capped", "skipped" (of those, the ones they skipped, which come
    last), "held" (their own running claim, resumed first)}."""
    now = timezone.now()
    items = review_claimable_items(queue=queue, user=user, now=now)
    count = items[: cap + 1].count()
    skipped = review_claimable_items(queue=queue, user=user, now=now, skipped=True)[: cap + 1].count()
    held = ReviewAssignment.objects.filter(
        reviewer=user,
        queue=queue,
        state=ReviewAssignment.State.CLAIMED,
        lease_expires_at__gt=now,
        item__status=ReviewItem.Status.OPEN,
        item__queue=queue,
    ).exists()
    total = count + int(held)
    return {"count": min(total, cap), "capped": total > cap, "skipped": min(skipped, cap), "held": held}


# --- the engineers' pages -----------------------------------------------------------------------

PAGE_SIZE = 50


def review_items_page(*, item_filter, after: tuple[int, int] | None = None, size: int = PAGE_SIZE) -> dict:
    """One page of a queue's items in claim order (priority high to low, then oldest first),
    by key: `after` is the (priority, id) of the last row shown. Two index range scans (the rest
    of the current priority, then lower priorities) keep every page as fast as the first."""
    from flywheel.review.item_filters import ItemFilter  # noqa: F401  (type of item_filter)

    # Only what the list shows: no payloads or decisions to decode, no message bodies.
    qs = (
        item_filter.apply()
        .select_related("session")
        .only(
            "id",
            "queue_id",
            "kind",
            "subject_type",
            "subject_id",
            "priority",
            "status",
            "reviewers_required",
            "submitted_count",
            "active_claims",
            "created_at",
            "session__external_id",
        )
    )
    if after is None:
        rows = list(qs.order_by("-priority", "id")[: size + 1])
    else:
        priority, last_id = after
        rows = list(qs.filter(priority=priority, id__gt=last_id).order_by("id")[: size + 1])
        if len(rows) <= size:
            rows += list(qs.filter(priority__lt=priority).order_by("-priority", "id")[: size + 1 - len(rows)])
    has_next = len(rows) > size
    rows = rows[:size]
    claims: dict[int, list[str]] = {}
    claimed_ids = [r.id for r in rows if r.active_claims]
    for item_id, username in (
        ReviewAssignment.objects.filter(item__in=claimed_ids, state=ReviewAssignment.State.CLAIMED).values_list(
            "item_id", "reviewer__username"
        )
        if claimed_ids
        else ()
    ):
        claims.setdefault(item_id, []).append(username)
    for row in rows:
        row.claimed_by = claims.get(row.id, [])
    return {"items": rows, "next": f"{rows[-1].priority}:{rows[-1].id}" if has_next else None}


def parse_cursor(value: str | None) -> tuple[int, int] | None:
    try:
        priority, last_id = (value or "").split(":")
        return int(priority), int(last_id)
    except ValueError:
        return None


def review_queue_overview() -> list[ReviewQueue]:
    queues = list(ReviewQueue.objects.order_by("-active", "-priority", "name"))
    for queue in queues:
        queue.open_count, queue.open_capped = review_open_count(queue=queue)
    return queues


def review_my_day(*, user) -> dict:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    done = ReviewAssignment.objects.filter(
        reviewer=user, state=ReviewAssignment.State.SUBMITTED, finished_at__gte=start, automatic=False
    ).count()
    target = settings.FLYWHEEL_REVIEW_DAILY_TARGET
    return {"done": done, "target": target, "percent": min(100, int(100 * done / target))}


RECENT_ITEMS = 10


def review_my_recent(*, user, limit: int = RECENT_ITEMS) -> list[ReviewAssignment]:
    """The reviewer's latest submissions, newest first, each with `progress`: "undo" (its undo
    period runs: `undo_until`), "final", "waiting" (for other reviewers), "adjudicating" or
    "withdrawn" (an engineer reopened the item)."""
    now = timezone.now()
    rows = list(
        ReviewAssignment.objects.filter(
            reviewer=user,
            state__in=[ReviewAssignment.State.SUBMITTED, ReviewAssignment.State.WITHDRAWN],
            finished_at__isnull=False,
        )
        .select_related("item", "queue")
        .order_by("-finished_at", "-id")[:limit]
    )
    for row in rows:
        if row.state == ReviewAssignment.State.WITHDRAWN:
            row.progress = "withdrawn"
        elif row.item.status == ReviewItem.Status.DONE:
            row.progress = "final"
        elif row.item.status == ReviewItem.Status.ADJUDICATING:
            row.progress = "adjudicating"
        elif row.undo_until is not None and row.undo_until > now:
            row.progress = "undo"
        else:
            row.progress = "waiting"
    return rows


def review_my_undoable(*, user) -> ReviewAssignment | None:
    """The reviewer's latest submission that can still be undone (for the toast), or None."""
    return (
        ReviewAssignment.objects.filter(
            reviewer=user,
            state=ReviewAssignment.State.SUBMITTED,
            undo_until__gt=timezone.now(),
            item__status=ReviewItem.Status.OPEN,
        )
        .order_by("-finished_at")
        .first()
    )


def audit_events_page(
    *,
    actor: str = "",
    action: str = "",
    target_type: str = "",
    target_id: str = "",
    before_id: int | None = None,
    size: int = PAGE_SIZE,
) -> dict:
    qs = AuditEvent.objects.select_related("actor")
    if actor:
        qs = qs.filter(actor__username=actor)
    if action:
        qs = qs.filter(action__startswith=action)
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=target_id)
    page = keyset_page(qs, past=before_id, size=size)
    return {"events": page.rows, "next_before": page.next_key}
