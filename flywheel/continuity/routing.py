"""Uncertain continuity predictions go to continuity review (one item per session, listing the
user turns whose probability lies within FLYWHEEL_CONTINUITY_REVIEW_BAND of the threshold)."""

from __future__ import annotations

from flywheel.continuity.models import ContinuityPrediction, SessionContinuity
from flywheel.review.services import review_item_enqueue, review_items_known


def uncertain_continuity_to_review(*, after: int, limit: int) -> tuple[int, int]:
    rows = list(
        SessionContinuity.objects.filter(id__gt=after)
        .order_by("id")
        .values("id", "session_id", "model_version", "uncertain_message_ids")[:limit]
    )
    if not rows:
        return after, 0
    # Sessions that have an item already (routed before, or re-read from the window behind the
    # cursor) get none again, so they are not counted.
    known = review_items_known(kind="continuity", subject_type="session", subject_ids=[r["session_id"] for r in rows])
    routed = 0
    for row in rows:
        asked = row["uncertain_message_ids"]
        if not asked or str(row["session_id"]) in known:
            continue
        known.add(str(row["session_id"]))
        predictions = ContinuityPrediction.objects.filter(
            message_id__in=asked, model_version=row["model_version"]
        ).values_list("message_id", "probability", "continues")
        probabilities = {message_id: p for message_id, p, _ in predictions}
        # The model's own call at its threshold, so the review page can pre-select it without
        # loading the model.
        guesses = {str(message_id): continues for message_id, _, continues in predictions}
        review_item_enqueue(
            kind="continuity",
            subject_type="session",
            subject_id=str(row["session_id"]),
            session_id=row["session_id"],
            payload={
                "message_ids": asked,
                "model_version": row["model_version"],
                "probabilities": {str(k): round(v, 3) for k, v in probabilities.items()},
                "guesses": guesses,
            },
        )
        routed += 1
    return rows[-1]["id"], routed
