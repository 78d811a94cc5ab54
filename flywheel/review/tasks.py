"""Thin job handlers and the review pipeline stage."""

from flywheel.jobs.progress import Progress
from flywheel.jobs.services import JobContext
from flywheel.review.routing import routing_run


def route_new_data(*, progress: Progress) -> dict:
    """Runs every routing rule other apps registered over what it has not seen yet
    (thumbs-down answers, labels, uncertain continuity: see each app's ready())."""
    return routing_run(progress=progress)


def bulk_action(ctx: JobContext) -> dict:
    from flywheel.review.bulk import review_items_bulk_run

    return review_items_bulk_run(payload=ctx.payload, progress=ctx.progress, check_cancelled=ctx.check_cancelled)
