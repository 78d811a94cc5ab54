"""Routing rules: what new data goes to which review queue.

A rule reads its own source table past a cursor and enqueues items; the review pipeline stage
(order 50) runs every rule until it has nothing new. An app writes its rule (flywheel/labeling/
routing.py) and registers it in its AppConfig.ready():

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
from collections.abc import Callable

from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.pipeline.cursors import cursor_advance, cursor_position
from flywheel.registry import Registry

logger = logging.getLogger(__name__)

RoutingRule = Callable[..., tuple[int, int]]
_RULES: Registry[RoutingRule] = Registry("routing rule")


def routing_rule_register(name: str, func: RoutingRule) -> RoutingRule:
    return _RULES.add(name, func)


def routing_rules() -> dict[str, RoutingRule]:
    return dict(_RULES)


def routing_run(
    *, only: set[str] | None = None, batch_size: int = 500, progress: Progress = progress_ignored
) -> dict[str, int]:
    """Run each rule from its cursor until it reports no progress; {rule: items routed}."""
    report = {}
    for name, rule in sorted(_RULES.items()):
        if only is not None and name not in only:
            continue
        cursor = f"routing-rule:{name}"
        position, routed = cursor_position(cursor), 0
        while True:
            new_position, count = rule(after=position, limit=batch_size)
            routed += count
            if new_position <= position:
                break
            cursor_advance(cursor, new_position)
            position = new_position
            progress(routed, None, f"{name}: {routed} routed, at {position}")
        report[name] = routed
    return report
