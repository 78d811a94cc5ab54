"""Reads for the engineers' figures: per-annotator throughput and inter-annotator agreement.

Agreement is measured per label field (and per turn control: train, continuity) over items that
more than one person reviewed. Cohen's kappa needs exactly two ratings per unit (the first and
second reviewer of each item play rater A and B); Krippendorff's alpha (nominal) takes any
number of reviewers and missing answers, and is the figure to trust when reviewers rotate.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import timedelta

import krippendorff
import numpy as np
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from sklearn.metrics import cohen_kappa_score

from flywheel.review.kinds import review_kind_get
from flywheel.review.models import ReviewAssignment, ReviewItem

AGREEMENT_ITEMS = 5000  # the most recent multiply-reviewed items taken into account


def review_throughput(*, days: int = 14) -> dict:
    """Per reviewer: submitted and skipped per day, today, the median time per item."""
    today = timezone.localdate()
    since = timezone.now() - timedelta(days=days)
    recent = ReviewAssignment.objects.filter(
        finished_at__gte=since,
        state__in=[ReviewAssignment.State.SUBMITTED, ReviewAssignment.State.SKIPPED, ReviewAssignment.State.DECLINED],
    )
    # The demo's automatic decisions are shown apart: they are no person's work.
    automatic = recent.filter(automatic=True, state=ReviewAssignment.State.SUBMITTED).count()
    finished = recent.filter(automatic=False)
    per_day = (
        finished.annotate(day=TruncDate("finished_at"))
        .values("reviewer__username", "day", "state")
        .annotate(n=Count("id"))
    )
    people: dict[str, dict] = {}
    for row in per_day:
        person = people.setdefault(row["reviewer__username"], {"submitted": 0, "skipped": 0, "today": 0, "by_day": {}})
        state = "skipped" if row["state"] == ReviewAssignment.State.DECLINED else row["state"]
        person[state] = person.get(state, 0) + row["n"]
        if row["state"] == ReviewAssignment.State.SUBMITTED:
            person["by_day"][row["day"]] = row["n"]
            if row["day"] == today:
                person["today"] = row["n"]
    durations = defaultdict(list)
    for username, claimed, done in finished.filter(state=ReviewAssignment.State.SUBMITTED).values_list(
        "reviewer__username", "claimed_at", "finished_at"
    )[:50_000]:
        durations[username].append((done - claimed).total_seconds())
    for username, person in people.items():
        person["username"] = username
        person["median_seconds"] = round(statistics.median(durations[username])) if durations[username] else None
    days_axis = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    rows = sorted(people.values(), key=lambda p: -p["submitted"])
    return {
        "rows": rows,
        "automatic": automatic,
        "days": days_axis,
        "series": {p["username"]: [p["by_day"].get(d, 0) for d in days_axis] for p in rows[:8]},
    }


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 3)


def review_agreement(*, queue_id: int | None = None) -> list[dict]:
    """[{kind, field, units, raters, percent, kappa, alpha}] per kind and label field."""
    items = ReviewItem.objects.filter(submitted_count__gte=2).exclude(kind="adjudication")
    if queue_id is not None:
        items = items.filter(queue_id=queue_id)
    items = list(items.select_related("parent").order_by("-id")[:AGREEMENT_ITEMS])
    by_item = defaultdict(list)
    for assignment in (
        # The demo's automatic decisions agree by construction: they would fake a perfect score.
        ReviewAssignment.objects.filter(item__in=items, state=ReviewAssignment.State.SUBMITTED, automatic=False)
        .order_by("finished_at", "id")
        .values("item_id", "reviewer_id", "decision")
    ):
        by_item[assignment["item_id"]].append(assignment)
    # (kind, field) -> unit -> [(reviewer, value)] in submission order
    ratings: dict[tuple[str, str], dict[tuple[int, str], list]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        try:
            kind = review_kind_get(item.kind)
        except ValueError:
            continue  # a kind no longer registered in this process: nothing to compare with
        for assignment in by_item[item.id]:
            for (field, unit), value in kind.agreement_units(item, assignment["decision"] or {}).items():
                ratings[(item.kind, field)][(item.id, unit)].append((assignment["reviewer_id"], value))
    return [_field_agreement(kind, field, units) for (kind, field), units in sorted(ratings.items())]


def _field_agreement(kind: str, field: str, units: dict) -> dict:
    units = {key: rated for key, rated in units.items() if len(rated) >= 2}
    row = {
        "kind": kind,
        "field": field,
        "units": len(units),
        "raters": 0,
        "percent": None,
        "kappa": None,
        "alpha": None,
    }
    if not units:
        return row
    values = sorted({value for rated in units.values() for _, value in rated})
    code = {value: index for index, value in enumerate(values)}
    reviewers = sorted({reviewer for rated in units.values() for reviewer, _ in rated})
    position = {reviewer: index for index, reviewer in enumerate(reviewers)}
    matrix = np.full((len(reviewers), len(units)), np.nan)
    agreeing = 0
    for column, rated in enumerate(units.values()):
        for reviewer, value in rated:
            matrix[position[reviewer], column] = code[value]
        agreeing += len({value for _, value in rated}) == 1
    row["raters"] = len(reviewers)
    row["percent"] = round(100 * agreeing / len(units), 1)
    if len(values) > 1:
        row["alpha"] = _number(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    elif agreeing == len(units):
        row["alpha"] = 1.0  # one value used by everyone: alpha is undefined, the agreement perfect
    pairs = [rated for rated in units.values() if len(rated) == 2]
    if len(pairs) == len(units):
        first = [rated[0][1] for rated in pairs]
        second = [rated[1][1] for rated in pairs]
        row["kappa"] = 1.0 if first == second else _number(cohen_kappa_score(first, second))
    return row


def review_suggestion_uptake(*, queue_id: int | None = None) -> list[dict]:
    """Per kind and field (and per turn control): how many decisions were made with a
    pre-selected suggestion, and how many kept it — [{kind, field, shown, kept, percent}]. A
    field whose suggestions are always kept may be rubber-stamped rather than checked."""
    assignments = ReviewAssignment.objects.filter(
        state=ReviewAssignment.State.SUBMITTED, automatic=False, item__kind__isnull=False
    ).exclude(suggested={})
    if queue_id is not None:
        assignments = assignments.filter(queue_id=queue_id)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for kind, suggested, decision in assignments.order_by("-id").values_list("item__kind", "suggested", "decision")[
        :AGREEMENT_ITEMS
    ]:
        decision = decision or {}
        for field, value in (suggested.get("fields") or {}).items():
            count = counts[(kind, field)]
            count[0] += 1
            count[1] += str(decision.get(field, "")) == value
        turns = decision.get("turns") or {}
        for message_id, turn in (suggested.get("turns") or {}).items():
            count = counts[(kind, "continuity")]
            count[0] += 1
            count[1] += (turns.get(message_id) or {}).get("continuity") == turn.get("continuity")
    return [
        {
            "kind": kind,
            "field": field,
            "shown": shown,
            "kept": kept,
            "changed": shown - kept,
            "percent": round(100 * kept / shown, 1),
        }
        for (kind, field), (shown, kept) in sorted(counts.items())
    ]
