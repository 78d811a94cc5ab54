"""Bulk actions on the items an engineer filtered: re-route, set priority, release, cancel.

The set is the filter itself, evaluated here (never ids collected from a page), walked by id in
batches, each batch one transaction with its rows locked; only open items change. Small sets are
done in the request; larger ones by a `review.bulk_action` job with a progress bar. Running a
batch twice changes nothing the second time (the actions are idempotent on open items).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from flywheel.accounts.services import audit_record
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create
from flywheel.review.item_filters import ItemFilter
from flywheel.review.kinds import review_kind_get
from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue
from flywheel.review.services import _resolve

BULK_ACTIONS = {
    "reroute": "Re-route to another queue",
    "set_priority": "Set priority",
    "release": "Release running claims",
    "cancel": "Cancel",
}
BATCH = 1000


def bulk_params_clean(*, queue: ReviewQueue, action: str, target: str = "", priority: str = "") -> dict:
    """The action's parameters, checked; ValueError says what to fix."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"choose an action ({', '.join(BULK_ACTIONS)})")
    if action == "reroute":
        target_queue = ReviewQueue.objects.filter(slug=target).first()
        if target_queue is None:
            raise ValueError("choose the queue to re-route to")
        if target_queue.id == queue.id:
            raise ValueError("the items are already in that queue")
        if target_queue.kind != queue.kind:
            raise ValueError(f"“{target_queue.name}” holds {target_queue.kind} items, not {queue.kind}")
        return {"target_queue_id": target_queue.id}
    if action == "set_priority":
        try:
            value = int(priority)
        except (TypeError, ValueError):
            raise ValueError("the priority must be a whole number") from None
        if abs(value) > 1_000_000:
            raise ValueError("the priority must be between -1000000 and 1000000")
        return {"priority": value}
    return {}


def review_items_bulk_request(*, queue: ReviewQueue, item_filter: ItemFilter, action: str, params: dict, user) -> dict:
    """Run the action now when the set is small, or queue a job; returns {"job": Job} or the counts."""
    limit = settings.FLYWHEEL_REVIEW_BULK_INLINE_MAX
    upto = item_filter.upto_id
    if upto is None:  # pin the set to what exists now
        upto = ReviewItem.objects.order_by("-id").values_list("id", flat=True).first() or 0
        item_filter = ItemFilter.from_dict({**item_filter.as_dict(), "upto_id": upto})
    payload = {
        "filter": item_filter.as_dict(),
        "action": action,
        "params": params,
        "user_id": user.id if user and user.is_authenticated else None,
    }
    matching = item_filter.apply().filter(status=ReviewItem.Status.OPEN)[: limit + 1].count()
    audit_record(
        actor=user,
        action=f"review.bulk.{action}",
        target_type="review_queue",
        target_id=queue.slug,
        detail={"filter": item_filter.as_dict(), "params": params, "matching_at_request": matching},
    )
    if matching > limit:
        return {"job": job_create(kind="review.bulk_action", payload=payload, created_by=user)}
    return review_items_bulk_run(payload=payload)


def review_items_bulk_run(
    *, payload: dict, progress: Progress = progress_ignored, check_cancelled: Callable | None = None
) -> dict:
    item_filter = ItemFilter.from_dict(payload["filter"])
    action, params = payload["action"], payload.get("params") or {}
    base = item_filter.apply().filter(status=ReviewItem.Status.OPEN)
    counts = {"changed": 0, "conflicts": 0}
    after = 0
    while True:
        ids = list(base.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:BATCH])
        if not ids:
            break
        changed, conflicts = _batch(ids, item_filter, action, params)
        counts["changed"] += changed
        counts["conflicts"] += conflicts
        after = ids[-1]
        progress(counts["changed"], None, f"{action}: {counts['changed']} items")
        if check_cancelled:
            check_cancelled()
    return counts


def _release_claims(ids: list[int], now) -> None:
    ReviewAssignment.objects.filter(item_id__in=ids, state=ReviewAssignment.State.CLAIMED).update(
        state=ReviewAssignment.State.RELEASED, finished_at=now
    )


def _resolve_now_complete(ids: list[int]) -> None:
    """An item moved to a queue that needs fewer reviewers may already have enough decisions."""
    for item in ReviewItem.objects.filter(
        id__in=ids, submitted_count__gte=F("reviewers_required"), submitted_count__gt=0
    ).select_related("queue"):
        _resolve(item, review_kind_get(item.kind))


@transaction.atomic
def _batch(ids: list[int], item_filter: ItemFilter, action: str, params: dict) -> tuple[int, int]:
    # Re-apply the filter under the lock: a row that changed since it was listed is left alone.
    locked = list(
        item_filter.apply(ReviewItem.objects.select_for_update())
        .filter(id__in=ids, status=ReviewItem.Status.OPEN)
        .values_list("id", "subject_type", "subject_id")
    )
    ids = [row[0] for row in locked]
    if not ids:
        return 0, 0
    now = timezone.now()
    items = ReviewItem.objects.filter(id__in=ids)
    if action == "set_priority":
        return items.update(priority=params["priority"]), 0
    if action == "release":
        _release_claims(ids, now)
        return items.update(active_claims=0, lease_expires_at=None), 0
    if action == "cancel":
        _release_claims(ids, now)
        changed = items.update(status=ReviewItem.Status.CANCELLED, active_claims=0, lease_expires_at=None)
        ReviewQueue.objects.filter(id=item_filter.queue_id).update(items_finished=F("items_finished") + changed)
        return changed, 0
    if action == "reroute":
        target = ReviewQueue.objects.get(id=params["target_queue_id"])
        taken = set(
            ReviewItem.objects.filter(
                queue=target, subject_type__in={r[1] for r in locked}, subject_id__in={r[2] for r in locked}
            ).values_list("subject_type", "subject_id")
        )
        movable = [row[0] for row in locked if (row[1], row[2]) not in taken]
        _release_claims(movable, now)
        changed = ReviewItem.objects.filter(id__in=movable).update(
            queue=target, reviewers_required=target.reviewers_per_item, active_claims=0, lease_expires_at=None
        )
        ReviewQueue.objects.filter(id=item_filter.queue_id).update(items_total=F("items_total") - changed)
        ReviewQueue.objects.filter(id=target.id).update(items_total=F("items_total") + changed)
        _resolve_now_complete(movable)
        return changed, len(locked) - len(movable)
    raise ValueError(f"unknown bulk action {action!r}")
