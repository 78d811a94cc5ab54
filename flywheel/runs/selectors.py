"""Reads of training runs: the list by key, and a run's page."""

from __future__ import annotations

from flywheel.runs.models import TrainingRun

PAGE_SIZE = 50


def runs_page(*, before_id: int | None = None, size: int = PAGE_SIZE) -> dict:
    qs = (TrainingRun.objects.select_related("dataset_version", "created_by")
          .defer("log_tail", "result", "dataset_version__manifest", "dataset_version__config").order_by("-id"))
    if before_id:
        qs = qs.filter(id__lt=before_id)
    rows = list(qs[: size + 1])
    return {"runs": rows[:size], "next_before": rows[size - 1].id if len(rows) > size else None}


def run_detail(*, run_id: int) -> TrainingRun | None:
    return TrainingRun.objects.select_related("dataset_version", "created_by", "job").filter(id=run_id).first()
