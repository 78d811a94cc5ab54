"""Labeling jobs and the labeling pipeline stage: thin wrappers over services, registered in
LabelingConfig.ready."""

from flywheel.jobs.progress import Progress
from flywheel.jobs.registry import PermanentJobError, RetryableJobError
from flywheel.jobs.services import JobContext
from flywheel.labeling.services import label_tasks_run, labeling_run_pending
from flywheel.llm.client import LLMNotConfigured, LLMRequestRejected, LLMUnavailable, usage_for_job
from flywheel.pipeline.services import pipeline_announce_new_data


def label_batch(ctx: JobContext) -> dict:
    """Label the sessions of a batch of LabelTasks (payload {"task_ids": [...]}); tasks already
    done are skipped, so a re-run after a lost worker only does what is left."""
    task_ids = [int(i) for i in ctx.payload.get("task_ids", [])]
    try:
        counts = label_tasks_run(task_ids=task_ids, job_id=ctx.job_id, progress=ctx.progress)
    except LLMUnavailable as exc:
        raise RetryableJobError(str(exc), retry_after_s=exc.retry_after_s) from exc
    except (LLMRequestRejected, LLMNotConfigured) as exc:
        raise PermanentJobError(f"the LLM server refused the request (check the model and key): {exc}") from exc
    if task_ids:
        # These labels land after the pipeline run that queued this job: the stages that read
        # labels (bad-case mining, label review) see them on the next run, so queue one; without
        # it the last labels before a quiet period wait for the next ingest. Announced on a re-run
        # too: the first attempt may have labelled everything and then lost its announcement.
        pipeline_announce_new_data()
    return {**counts, "usage": usage_for_job(ctx.job_id)["total"]}


def label_new_data(*, progress: Progress) -> dict:
    return labeling_run_pending(progress=progress)


def run_pending(ctx: JobContext) -> dict:
    """The labeling stage on demand (the "Label now" button)."""
    return labeling_run_pending(progress=ctx.progress)
