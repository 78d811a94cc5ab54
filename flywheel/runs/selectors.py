"""Reads of training runs: the list by key, a run's page, and the pool a plan is drawn from."""

from __future__ import annotations

import hashlib
import json

from flywheel.datasets.builder import BuiltSample
from flywheel.datasets.models import DatasetSample, DatasetVersion
from flywheel.runs.models import TrainingRun
from flywheel.runs.plans import DEFAULT_DMT_SHARE, STRATEGIES, PlanError, plan_check, plan_stages, plan_summary
from flywheel.ui.paging import keyset_page

PAGE_SIZE = 50


def runs_page(*, before_id: int | None = None, size: int = PAGE_SIZE) -> dict:
    qs = TrainingRun.objects.select_related("dataset_version", "created_by").defer(
        "log_tail", "result", "dataset_version__manifest", "dataset_version__config"
    )
    page = keyset_page(qs, past=before_id, size=size)
    return {"runs": page.rows, "next_before": page.next_key}


def run_detail(*, run_id: int) -> TrainingRun | None:
    return TrainingRun.objects.select_related("dataset_version", "created_by", "job").filter(id=run_id).first()


def plan_pool(*, version_ids: list[int], split: str = "train") -> list[BuiltSample]:
    """The SFT conversations of the versions' split, each once (the first version listing a
    content hash gives it), in (version order, position) order. Records are left out: choosing
    a plan needs only hashes, task types and weights."""
    seen: set[str] = set()
    pool: list[BuiltSample] = []
    for version_id in version_ids:
        rows = (
            DatasetSample.objects.filter(version_id=version_id, kind="sft", split=split)
            .order_by("position")
            .values_list("sample_hash", "task_type", "weight", "source")
            .iterator(chunk_size=2000)
        )
        for sample_hash, task_type, weight, source in rows:
            if sample_hash in seen:
                continue
            seen.add(sample_hash)
            pool.append(
                BuiltSample(
                    kind="sft",
                    record={},
                    sample_hash=sample_hash,
                    task_type=task_type,
                    source=source,
                    weight=weight,
                    split=split,
                )
            )
    return pool


def run_plan(
    *,
    strategy: str,
    version_ids: list[int],
    specialist_task_types: list[str],
    dmt_k: str = DEFAULT_DMT_SHARE,
    seed: int = 0,
) -> dict | None:
    """The plan a run would train: its stages and how many conversations of each task type each
    holds. None for multi-task on one version (a plain run, no plan). ValueError says what is wrong."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    version_ids = list(dict.fromkeys(version_ids))
    if not version_ids:
        raise ValueError("choose at least one dataset version")
    known = set(DatasetVersion.objects.filter(id__in=version_ids).values_list("id", flat=True))
    missing = [str(v) for v in version_ids if v not in known]
    if missing:
        raise ValueError(f"there is no dataset version {', '.join(missing)}")
    if strategy == "multi_task" and len(version_ids) == 1:
        return None
    pool = plan_pool(version_ids=version_ids)
    try:
        stages = plan_stages(strategy, specialist_task_types, dmt_k)
        plan_check(pool, stages, specialist_task_types)
    except PlanError as exc:
        raise ValueError(str(exc)) from exc
    plan = {
        "strategy": strategy,
        "versions": version_ids,
        "specialist_task_types": list(specialist_task_types),
        "dmt_k": dmt_k if strategy == "dmt" else None,
        "seed": seed,
        "stages": plan_summary(pool, stages, specialist_task_types, seed),
        "task_types": sorted({s.task_type for s in pool}),
    }
    plan["key"] = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
    return plan
