"""Thin job handlers and the review pipeline stage."""

from flywheel.jobs.registry import job_handler
from flywheel.jobs.services import JobContext
from flywheel.pipeline.registry import pipeline_stage
from flywheel.review.routing import routing_run


@pipeline_stage(order=50, name="review")
def route_new_data(*, progress) -> dict:
    """Runs every routing rule over what it has not seen yet (thumbs-down answers to the
    bad-case queue, and the rules other apps register)."""
    return routing_run(progress=progress)


@job_handler("review.bulk_action", queue="default")
def bulk_action(ctx: JobContext) -> dict:
    from flywheel.review.bulk import review_items_bulk_run

    return review_items_bulk_run(payload=ctx.payload, progress=ctx.progress, check_cancelled=ctx.check_cancelled)
