"""Labeling jobs, the labeling pipeline stage (order 20) and the label routing rule."""

from flywheel.jobs.registry import PermanentJobError, RetryableJobError, job_handler
from flywheel.jobs.services import JobContext
from flywheel.labeling.routing import labels_to_review
from flywheel.labeling.services import label_tasks_run, labeling_run_pending
from flywheel.llm.client import LLMNotConfigured, LLMRequestRejected, LLMUnavailable, usage_for_job
from flywheel.pipeline.registry import pipeline_stage
from flywheel.review.routing import routing_rule_register


@job_handler("labeling.label_batch", queue="llm")
def label_batch(ctx: JobContext) -> dict:
    """Label the sessions of a batch of LabelTasks (payload {"task_ids": [...]}); tasks already
    done are skipped, so a re-run after a lost worker only does what is left."""
    task_ids = [int(i) for i in ctx.payload.get("task_ids", [])]
    try:
        counts = label_tasks_run(task_ids=task_ids, job_id=ctx.job_id,
                                 progress=lambda done, total: ctx.progress(done, total, note=f"{done}/{total} sessions"))
    except LLMUnavailable as exc:
        raise RetryableJobError(str(exc), retry_after_s=exc.retry_after_s) from exc
    except (LLMRequestRejected, LLMNotConfigured) as exc:
        raise PermanentJobError(f"the LLM server refused the request (check the model and key): {exc}") from exc
    return {**counts, "usage": usage_for_job(ctx.job_id)["total"]}


@pipeline_stage(order=20, name="labeling")
def label_new_data(*, progress) -> dict:
    return labeling_run_pending(progress=progress)


routing_rule_register("labels-to-review", labels_to_review)


@job_handler("labeling.run_pending", queue="default")
def run_pending(ctx: JobContext) -> dict:
    """The labeling stage on demand (the "Label now" button)."""
    return labeling_run_pending(progress=lambda note: ctx.progress(0, None, note=note))
