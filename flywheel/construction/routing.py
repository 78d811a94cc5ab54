"""Every thumbs-down answer goes to the bad-case answer queue (construction's "badcase_answer"
kind, flywheel/construction/kinds.py): a routing rule run by the review stage (order 50), past a
cursor over feedback ids; enqueueing is idempotent per answer, and answers that already have an
item are skipped and not counted (the rule re-reads a window behind its cursor)."""

from __future__ import annotations

from flywheel.cleaning.models import SessionCleaning
from flywheel.cleaning.models import Status as CleaningStatus
from flywheel.ingest.models import Feedback, Message
from flywheel.review.services import review_item_enqueue, review_items_known


def thumbs_down_to_badcase(*, after: int, limit: int) -> tuple[int, int]:
    """Every thumbs-down on an assistant answer becomes a bad-case answer item (once per answer)."""
    rows = list(
        Feedback.objects.filter(id__gt=after)
        .order_by("id")
        .values("id", "rating", "comment", "reasons", "message_id", "message__session_id", "message__role")[:limit]
    )
    if not rows:
        return after, 0
    down = [r for r in rows if r["rating"] == -1 and r["message__role"] == Message.Role.ASSISTANT]
    # Sessions cleaning dropped (spam, junk, duplicates) are not worth a person's time. Sessions
    # not cleaned yet are routed: waiting for them would need a second cursor, and they are rare.
    dropped = set(
        SessionCleaning.objects.filter(
            session_id__in={r["message__session_id"] for r in down}, status=CleaningStatus.DROPPED
        ).values_list("session_id", flat=True)
    )
    down = [r for r in down if r["message__session_id"] not in dropped]
    known = review_items_known(
        kind="badcase_answer", subject_type="message", subject_ids=[r["message_id"] for r in down]
    )
    routed = 0
    for row in down:
        if str(row["message_id"]) in known:
            continue
        known.add(str(row["message_id"]))
        review_item_enqueue(
            kind="badcase_answer",
            subject_type="message",
            subject_id=str(row["message_id"]),
            session_id=row["message__session_id"],
            message_id=row["message_id"],
            # A user who took the time to say why is the most useful signal: review it first.
            priority=1 if (row["comment"] or row["reasons"]) else 0,
            payload={
                "feedback_id": row["id"],
                "comment": (row["comment"] or "")[:2000],
                "reasons": row["reasons"] if isinstance(row["reasons"], list) else [],
            },
        )
        routed += 1
    return rows[-1]["id"], routed
