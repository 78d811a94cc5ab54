"""Uncertain continuity predictions go to continuity review (one item per session, listing the
user turns whose probability lies within FLYWHEEL_CONTINUITY_REVIEW_BAND of the threshold)."""

from __future__ import annotations

from flywheel.continuity.models import ContinuityPrediction, SessionContinuity
from flywheel.review.services import review_item_enqueue


def uncertain_continuity_to_review(*, after: int, limit: int) -> tuple[int, int]:
    rows = list(
        SessionContinuity.objects.filter(id__gt=after)
        .order_by("id")
        .values("id", "session_id", "model_version", "uncertain_message_ids")[:limit]
    )
    if not rows:
        return after, 0
    routed = 0
    for row in rows:
        asked = row["uncertain_message_ids"]
        if not asked:
            continue
        probabilities = dict(
            ContinuityPrediction.objects.filter(message_id__in=asked, model_version=row["model_version"]).values_list(
                "message_id", "probability"
            )
        )
        review_item_enqueue(
            kind="continuity",
            subject_type="session",
            subject_id=str(row["session_id"]),
            session_id=row["session_id"],
            payload={
                "message_ids": asked,
                "model_version": row["model_version"],
                "probabilities": {str(k): round(v, 3) for k, v in probabilities.items()},
            },
        )
        routed += 1
    return rows[-1]["id"], routed
