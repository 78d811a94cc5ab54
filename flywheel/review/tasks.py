"""Thin job handlers and the review pipeline stage."""

from flywheel.jobs.progress import Progress
from flywheel.jobs.registry import RetryableJobError
from flywheel.jobs.services import JobContext
from flywheel.review.bulk import review_items_bulk_run
from flywheel.review.routing import routing_run
from flywheel.review.services import review_item_finalize


def route_new_data(*, progress: Progress) -> dict:
    """Runs every routing rule other apps registered over what it has not seen yet
    (thumbs-down answers, labels, uncertain continuity: see each app's ready())."""
    return routing_run(progress=progress)


def bulk_action(ctx: JobContext) -> dict:
    return review_items_bulk_run(payload=ctx.payload, progress=ctx.progress, check_cancelled=ctx.check_cancelled)


def finalize(ctx: JobContext) -> dict:
    """Decide an item once its undo periods are over; early (a redelivered message), it puts
    itself back until the last one ends."""
    outcome = review_item_finalize(item_id=int(ctx.payload["item_id"]))
    if "retry_in" in outcome:
        raise RetryableJobError("an undo period is still running", retry_after_s=outcome["retry_in"])
    return outcome
