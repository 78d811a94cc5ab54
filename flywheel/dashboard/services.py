"""Folding new sessions, messages and feedback into DailyStats.

Each source is read by id above its watermark, in keyset chunks; the counts and the new
watermark commit together, with the watermark row locked, so a rerun or a concurrent run
never counts a row twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.db.models.functions import TruncDate

from flywheel.dashboard.models import DailyStats, RollupWatermark
from flywheel.ingest.models import ChatSession, Feedback, Message
from flywheel.jobs.services import job_create

CHUNK = 50_000


@dataclass(frozen=True)
class _Source:
    rows: Callable[[], QuerySet]
    day_field: str
    version_field: str
    counters: dict  # DailyStats field -> aggregate over the chunk


SOURCES = {
    "sessions": _Source(ChatSession.objects.all, "started_at", "model_version", {"sessions": Count("id")}),
    "messages": _Source(
        lambda: Message.objects.filter(alternative_to__isnull=True),
        "created_at",
        "session__model_version",
        {"messages": Count("id")},
    ),
    "feedback": _Source(
        Feedback.objects.all,
        "created_at",
        "message__model_version",
        {"thumbs_up": Count("id", filter=Q(rating=1)), "thumbs_down": Count("id", filter=Q(rating=-1))},
    ),
}


def stats_rollup() -> dict[str, int]:
    folded = {}
    for name in SOURCES:
        folded[name] = 0
        while (n := _fold_chunk(name)) > 0:
            folded[name] += n
    return folded


@transaction.atomic
def _fold_chunk(name: str) -> int:
    source = SOURCES[name]
    RollupWatermark.objects.get_or_create(source=name)
    mark = RollupWatermark.objects.select_for_update().get(source=name)
    ids = source.rows().filter(id__gt=mark.last_id).order_by("id").values_list("id", flat=True)
    upper = ids[CHUNK - 1 : CHUNK].first() or ids.aggregate(m=Max("id"))["m"]
    if upper is None:
        return 0
    grouped = (
        source.rows()
        .filter(id__gt=mark.last_id, id__lte=upper)
        .annotate(day=TruncDate(source.day_field), version=F(source.version_field))
        .values("day", "version")
        .annotate(rows=Count("id"), **source.counters)
    )
    folded = 0
    for row in grouped:
        stats, _ = DailyStats.objects.get_or_create(day=row["day"], model_version=row["version"] or "")
        DailyStats.objects.filter(id=stats.id).update(**{field: F(field) + row[field] for field in source.counters})
        folded += row["rows"]
    mark.last_id = upper
    mark.save(update_fields=["last_id", "updated_at"])
    return folded


def stats_rollup_request() -> None:
    """Ask for a rollup in the background (at most one waits at a time)."""
    job_create(kind="dashboard.rollup", dedupe_key="dashboard.rollup")


def stats_are_behind() -> bool:
    marks = dict(RollupWatermark.objects.values_list("source", "last_id"))
    return any(
        (source.rows().order_by("-id").values_list("id", flat=True).first() or 0) > marks.get(name, 0)
        for name, source in SOURCES.items()
    )
