from __future__ import annotations

import logging

from django.core.cache import cache

from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create
from flywheel.pipeline.registry import stages_in_order

logger = logging.getLogger(__name__)

# Set while a pipeline run is waiting to start: such a run will see every row committed
# before it starts, so further announcements can be skipped until it does.
_WAITING_RUN_KEY = "flywheel:pipeline:run-waiting"


def pipeline_announce_new_data() -> None:
    """Called after new data commits. Costs one cache operation while a run is already
    waiting, instead of a job lookup per ingested batch."""
    # The key expires, so a waiting run that was cancelled blocks announcements for minutes at most.
    if cache.add(_WAITING_RUN_KEY, 1, timeout=300):
        try:
            job_create(kind="pipeline.new_data", dedupe_key="pipeline.new_data")
        except Exception:
            # No run waits after all (the database went away): a key left behind would swallow
            # every announcement, the client's retry of this batch included, for minutes.
            cache.delete(_WAITING_RUN_KEY)
            raise


def pipeline_run_for_data_so_far():
    """The pipeline job that will see every row committed so far: the run waiting to start, or
    a new one. An import names it as its follow-on job, so its page links to what came next."""
    cache.add(_WAITING_RUN_KEY, 1, timeout=300)
    return job_create(kind="pipeline.new_data", dedupe_key="pipeline.new_data")


def pipeline_run_starting() -> None:
    """A run is starting: data committed from now on must queue the next run."""
    cache.delete(_WAITING_RUN_KEY)


def pipeline_run(*, only: set[str] | None = None, progress: Progress = progress_ignored) -> dict:
    """Run every registered stage (or those in `only`) in order; returns each stage's counts.
    `progress` hears of each stage as it starts (stages done, stages, the stage's name); what a
    stage reports of its own work goes to the log."""
    stages = [s for s in stages_in_order() if only is None or s.name in only]
    report = {}
    for index, stage in enumerate(stages):
        progress(index, len(stages), stage.name)

        def stage_progress(done: int, total: int | None, note: str, _name=stage.name) -> None:
            logger.info("pipeline %s: %s", _name, note)

        report[stage.name] = stage.func(progress=stage_progress)
    return report
