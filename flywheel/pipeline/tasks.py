from flywheel.jobs.services import JobContext
from flywheel.pipeline.services import pipeline_run, pipeline_run_starting


def new_data(ctx: JobContext) -> dict:
    """Queued (at most one waiting) whenever ingest writes new data."""
    pipeline_run_starting()
    return pipeline_run(progress=ctx.progress)
