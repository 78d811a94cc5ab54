"""Which labels go to label review: untrusted ones (a steering attempt was flagged) first, then
offline labels whose task type is uncertain, then low-quality ones. Runs in the review stage
(order 50) as a routing rule, past a cursor over label ids; enqueueing is idempotent per label."""

from __future__ import annotations

from django.conf import settings

from flywheel.labeling.models import Label
from flywheel.review.services import review_item_enqueue, review_items_known


def labels_to_review(*, after: int, limit: int) -> tuple[int, int]:
    rows = list(
        Label.objects.filter(id__gt=after)
        .order_by("id")
        .values(
            "id",
            "session_id",
            "source",
            "injection_flagged",
            "quality",
            "usable",
            "task_type",
            "injection_signals",
            "uncertain",
            "confidence",
            "raw",
        )[:limit]
    )
    if not rows:
        return after, 0
    # Labels routed before (the rule re-reads a window behind its cursor) are neither enqueued
    # again nor counted.
    known = review_items_known(kind="label", subject_type="label", subject_ids=[r["id"] for r in rows])
    routed = 0
    for row in rows:
        if row["source"] == Label.Source.HUMAN or str(row["id"]) in known:
            continue
        flagged, uncertain = row["injection_flagged"], row["uncertain"]
        low = row["quality"] < settings.FLYWHEEL_LABEL_REVIEW_BELOW
        if not (flagged or uncertain or low):
            continue
        if flagged:
            reason, priority = "steering attempt flagged", 10
        elif uncertain:
            reason, priority = f"uncertain task type ({_candidates(row)})", 5
        else:
            reason, priority = f"low quality ({row['quality']})", 0
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
                "confidence": row["confidence"],
                "signals": [s.get("signal") for s in row["injection_signals"]],
            },
            priority=priority,
        )
        routed += 1
    return rows[-1]["id"], routed


def _candidates(row: dict) -> str:
    """ "qa 0.41, nlp 0.33": the classifier's likeliest types, so the reviewer sees the doubt."""
    candidates = (row["raw"] or {}).get("candidates") or [[row["task_type"], row["confidence"] or 0.0]]
    return ", ".join(f"{name} {float(p):.2f}" for name, p in candidates[:3])
