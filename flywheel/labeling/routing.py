"""Which labels go to label review: untrusted ones (a steering attempt was flagged) first, then
low-quality ones. Runs in the review stage (order 50) as a routing rule, past a cursor over
label ids; enqueueing is idempotent per label."""

from __future__ import annotations

from django.conf import settings

from flywheel.labeling.models import Label


def labels_to_review(*, after: int, limit: int) -> tuple[int, int]:
    from flywheel.review.services import review_item_enqueue

    rows = list(
        Label.objects.filter(id__gt=after)
        .order_by("id")
        .values(
            "id", "session_id", "source", "injection_flagged", "quality", "usable", "task_type", "injection_signals"
        )[:limit]
    )
    if not rows:
        return after, 0
    routed = 0
    for row in rows:
        if row["source"] == Label.Source.HUMAN:
            continue
        flagged = row["injection_flagged"]
        low = row["quality"] < settings.FLYWHEEL_LABEL_REVIEW_BELOW
        if not (flagged or low):
            continue
        reason = "steering attempt flagged" if flagged else f"low quality ({row['quality']})"
        review_item_enqueue(
            kind="label",
            subject_type="label",
            subject_id=str(row["id"]),
            session_id=row["session_id"],
            payload={
                "reason": reason,
                "source": row["source"],
                "task_type": row["task_type"],
                "quality": row["quality"],
                "signals": [s.get("signal") for s in row["injection_signals"]],
            },
            priority=10 if flagged else 0,
        )
        routed += 1
    return rows[-1]["id"], routed
