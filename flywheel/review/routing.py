"""Routing rules: what new data goes to which review queue.

A rule reads its own source table past a cursor and enqueues items; the review pipeline stage
(order 50) runs every rule until it has nothing new. An app writes its rule (flywheel/labeling/
routing.py) and registers it in its AppConfig.ready():

    def low_quality_labels(*, after: int, limit: int) -> tuple[int, int]:
        rows = list(Label.objects.filter(id__gt=after, quality__lt=3).order_by("id")[:limit])
        known = review_items_known(kind="label", subject_type="label", subject_ids=[r.id for r in rows])
        fresh = [label for label in rows if str(label.id) not in known]
        for label in fresh:
            review_item_enqueue(kind="label", subject_type="label", subject_id=str(label.id), ...)
        return (rows[-1].id if rows else after), len(fresh)

    routing_rule_register("low-quality-labels", low_quality_labels)

A rule returns (new cursor position, items routed) and must be idempotent (enqueueing is): a run
starts a little behind its cursor (flywheel/pipeline/cursors.py: rows committed late are not
lost), and a crash between enqueueing and saving the cursor routes the same rows again. Both
change nothing, and the count must say so: count only the items the call created.
Disagreements between reviewers need no rule: the framework sends them to adjudication.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.pipeline.cursors import cursor_read
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
        routed = 0

        def step(after: int, name=name, rule=rule) -> int:
            nonlocal routed
            reached, count = rule(after=after, limit=batch_size)
            routed += count
            progress(routed, None, f"{name}: {routed} routed, at {reached}")
            return reached

        cursor_read(f"routing-rule:{name}", step)
        report[name] = routed
    return report
