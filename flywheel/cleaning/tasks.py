"""Cleaning jobs and the cleaning pipeline stage: thin wrappers over services."""

from flywheel.cleaning.services import cleaning_rerun, cleaning_run_pending
from flywheel.jobs.registry import job_handler
from flywheel.jobs.services import JobContext
from flywheel.pipeline.registry import pipeline_stage


@job_handler("cleaning.rerun", queue="default")
def rerun(ctx: JobContext) -> dict:
    """Re-clean one app's sessions (payload {"app": name}, or null for all) under the current rules.
    Sessions already cleaned under these rules are skipped, so a re-run after a crash resumes."""
    app = ctx.payload.get("app")
    return cleaning_rerun(app=app if isinstance(app, str) else None,
                          progress=lambda done, total, note: ctx.progress(done, total, note))


@pipeline_stage(order=10, name="cleaning")
def clean_new_data(*, progress) -> dict:
    return cleaning_run_pending(progress=lambda done, total, note: progress(note))
