"""Routing rules: what new data goes to which review queue.

A rule reads its own source table past a cursor and enqueues items; the review pipeline stage
(order 50) runs every rule until it has nothing new. Register one in your app's tasks.py:

    def low_quality_labels(*, after: int, limit: int) -> tuple[int, int]:
        rows = list(Label.objects.filter(id__gt=after, quality__lt=3).order_by("id")[:limit])
        for label in rows:
            review_item_enqueue(kind="label", subject_type="label", subject_id=str(label.id), ...)
        return (rows[-1].id if rows else after), len(rows)

    routing_rule_register("low-quality-labels", low_quality_labels)

A rule returns (new cursor position, items routed) and must be idempotent (enqueueing is): a
crash between enqueueing and saving the cursor routes the same rows again, changing nothing.
Disagreements between reviewers need no rule: the framework sends them to adjudication.
"""

from __future__ import annotations

import logging
from typing import Callable

from django.db.models.functions import Greatest

from flywheel.cleaning.models import SessionCleaning
from flywheel.cleaning.models import Status as CleaningStatus
from flywheel.ingest.models import Feedback, Message
from flywheel.review.models import ReviewItem, RoutingCursor

logger = logging.getLogger(__name__)

RoutingRule = Callable[..., tuple[int, int]]
_RULES: dict[str, RoutingRule] = {}


def routing_rule_register(name: str, func: RoutingRule) -> RoutingRule:
    existing = _RULES.get(name)
    if existing is not None and existing.__qualname__ != func.__qualname__:
        raise ValueError(f"routing rule {name!r} is registered twice")
    _RULES[name] = func
    return func


def routing_rules() -> dict[str, RoutingRule]:
    return dict(_RULES)


def routing_run(*, only: set[str] | None = None, batch_size: int = 500,
                progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run each rule from its cursor until it reports no progress; {rule: items routed}."""
    report = {}
    for name, rule in sorted(_RULES.items()):
        if only is not None and name not in only:
            continue
        cursor, _ = RoutingCursor.objects.get_or_create(rule=name)
        position, routed = cursor.position, 0
        while True:
            new_position, count = rule(after=position, limit=batch_size)
            routed += count
            if new_position <= position:
                break
            # Greatest: two runs at once never move a cursor backwards.
            RoutingCursor.objects.filter(rule=name).update(position=Greatest("position", new_position))
            position = new_position
            if progress:
                progress(f"{name}: {routed} routed, at {position}")
        report[name] = routed
    return report


def thumbs_down_to_badcase(*, after: int, limit: int) -> tuple[int, int]:
    """Every thumbs-down on an assistant answer becomes a bad-case answer item (once per answer)."""
    from flywheel.review.services import review_item_enqueue

    rows = list(Feedback.objects.filter(id__gt=after).order_by("id")
                .values("id", "rating", "comment", "reasons", "message_id", "message__session_id", "message__role")[:limit])
    if not rows:
        return after, 0
    down = [r for r in rows if r["rating"] == -1 and r["message__role"] == Message.Role.ASSISTANT]
    # Sessions cleaning dropped (spam, junk, duplicates) are not worth a person's time. Sessions
    # not cleaned yet are routed: waiting for them would need a second cursor, and they are rare.
    dropped = set(SessionCleaning.objects.filter(session_id__in={r["message__session_id"] for r in down},
                                                 status=CleaningStatus.DROPPED)
                  .values_list("session_id", flat=True))
    down = [r for r in down if r["message__session_id"] not in dropped]
    known = set(ReviewItem.objects.filter(kind="badcase_answer", subject_type="message",
                                          subject_id__in=[str(r["message_id"]) for r in down])
                .values_list("subject_id", flat=True))
    routed = 0
    for row in down:
        if str(row["message_id"]) in known:
            continue
        known.add(str(row["message_id"]))
        review_item_enqueue(
            kind="badcase_answer", subject_type="message", subject_id=str(row["message_id"]),
            session_id=row["message__session_id"], message_id=row["message_id"],
            # A user who took the time to say why is the most useful signal: review it first.
            priority=1 if (row["comment"] or row["reasons"]) else 0,
            payload={"feedback_id": row["id"], "comment": (row["comment"] or "")[:2000],
                     "reasons": row["reasons"] if isinstance(row["reasons"], list) else []},
        )
        routed += 1
    return rows[-1]["id"], routed


routing_rule_register("thumbs-down-to-badcase", thumbs_down_to_badcase)
