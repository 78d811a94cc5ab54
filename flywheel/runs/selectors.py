"""Reads of training runs: the list by key, and a run's page."""

from __future__ import annotations

from flywheel.runs.models import TrainingRun
from flywheel.ui.paging import keyset_page

PAGE_SIZE = 50


def runs_page(*, before_id: int | None = None, size: int = PAGE_SIZE) -> dict:
    qs = (TrainingRun.objects.select_related("dataset_version", "created_by")
          .defer("log_tail", "result", "dataset_version__manifest", "dataset_version__config"))
    page = keyset_page(qs, past=before_id, size=size)
    return {"runs": page.rows, "next_before": page.next_key}


def run_detail(*, run_id: int) -> TrainingRun | None:
    return TrainingRun.objects.select_related("dataset_version", "created_by", "job").filter(id=run_id).first()
