"""Curation reads: the diversity analysis of a version (a bounded sample of its conversations),
and its IFD scores per model."""

from __future__ import annotations

from django.db.models import Avg, Count, Max, Min, Q

from flywheel.curation.diversity import Item, analyse
from flywheel.curation.models import TurnScore
from flywheel.curation.services import curation_model_check, model_fingerprint
from flywheel.datasets.models import DatasetSample, DatasetVersion
from flywheel.llm.embeddings import embed_texts

ANALYSIS_LIMIT = 2000


def curation_version_items(*, version: DatasetVersion, limit: int = ANALYSIS_LIMIT) -> list[Item]:
    """The version's SFT conversations in build order, at most `limit` (the page says so)."""
    samples = (
        DatasetSample.objects.filter(version=version, kind=DatasetSample.Kind.SFT)
        .order_by("position")
        .only("id", "task_type", "record", "lineage")[:limit]
    )
    return [
        Item(
            key=sample.id,
            task_type=sample.task_type or "(none)",
            subtype=str(sample.lineage.get("task_subtype") or ""),
            messages=[{"role": m["role"], "content": m["content"]} for m in sample.record.get("messages", [])],
        )
        for sample in samples
    ]


def curation_version_diversity(*, version: DatasetVersion, clusters: int = 8, limit: int = ANALYSIS_LIMIT) -> dict:
    items = curation_version_items(version=version, limit=limit)
    vectors = embed_texts([item.text for item in items], max_chars=2000)
    analysis = analyse(items, vectors, clusters=clusters)
    analysis["limited"] = version.sft_count > len(items)
    return analysis


def curation_ifd_summary(*, version: DatasetVersion) -> list[dict]:
    """Per scoring model: turns, scored turns, mean IFD, turns above 1 (Cherry drops those)."""
    rows = (
        TurnScore.objects.filter(version=version, metric=TurnScore.Metric.IFD)
        .values("model", "model_version")
        .annotate(
            turns=Count("id"), scored=Count("value"), mean=Avg("value"), above_one=Count("id", filter=Q(value__gt=1.0))
        )
        .order_by("model")
    )
    return list(rows)


def curation_reward_summary(*, version: DatasetVersion) -> list[dict]:
    """Per reward model: conversations scored, failed (NULL), mean, lowest and highest reward."""
    rows = (
        TurnScore.objects.filter(version=version, metric=TurnScore.Metric.REWARD)
        .values("model", "model_version")
        .annotate(
            conversations=Count("id"), scored=Count("value"), mean=Avg("value"), low=Min("value"), high=Max("value")
        )
        .order_by("model")
    )
    return list(rows)


def curation_ifd_scores_by_hash(*, model: str) -> tuple[str, dict[tuple[str, int], float | None]]:
    """The scoring model's version and its IFD per (sample content hash, message index), from
    every version it scored: a sample built again has the same hash, so its scores carry over."""
    fingerprint = model_fingerprint(curation_model_check(model))
    rows = TurnScore.objects.filter(metric=TurnScore.Metric.IFD, model_version=fingerprint).values_list(
        "sample__sample_hash", "message_index", "value"
    )
    return fingerprint, {(sample_hash, index): value for sample_hash, index, value in rows}


def curation_rewards_by_hash(*, model: str) -> tuple[str, dict[str, float]]:
    """The reward model's version and its reward per sample content hash, from every version it
    scored."""
    fingerprint = model_fingerprint(curation_model_check(model))
    rows = (
        TurnScore.objects.filter(metric=TurnScore.Metric.REWARD, model_version=fingerprint)
        .exclude(value=None)
        .values_list("sample__sample_hash", "value")
    )
    return fingerprint, dict(rows)
