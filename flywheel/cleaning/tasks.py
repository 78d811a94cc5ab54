"""Cleaning jobs and the cleaning pipeline stage: thin wrappers over services."""

from flywheel.cleaning.services import cleaning_rerun, cleaning_run_pending
from flywheel.jobs.progress import Progress
from flywheel.jobs.services import JobContext


def rerun(ctx: JobContext) -> dict:
    """Re-clean one app's sessions (payload {"app": name}, or null for all) under the current rules.
    Sessions already cleaned under these rules are skipped, so a re-run after a crash resumes."""
    app = ctx.payload.get("app")
    return cleaning_rerun(app=app if isinstance(app, str) else None, progress=ctx.progress)


def clean_new_data(*, progress: Progress) -> dict:
    return cleaning_run_pending(progress=progress)
