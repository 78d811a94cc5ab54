"""Continuity jobs (training, prediction) and the continuity pipeline stage (order 30)."""

from flywheel.continuity.routing import uncertain_continuity_to_review
from flywheel.continuity.services import (
    ContinuityModelMissing,
    ContinuityTrainingError,
    continuity_model_train,
    continuity_run_pending,
)
from flywheel.jobs.registry import PermanentJobError, job_handler
from flywheel.jobs.services import JobContext
from flywheel.pipeline.registry import pipeline_stage
from flywheel.review.routing import routing_rule_register


@job_handler("continuity.train", queue="default", max_attempts=2)
def train(ctx: JobContext) -> dict:
    """Train a new classifier version from the stored sessions (payload {"seed", "activate"})."""
    try:
        row = continuity_model_train(seed=int(ctx.payload.get("seed", 0)), activate=bool(ctx.payload.get("activate", True)),
                                     job_id=ctx.job_id, progress=lambda note: ctx.progress(0, None, note=note))
    except ContinuityTrainingError as exc:
        raise PermanentJobError(str(exc)) from exc
    return {"version": row.version, "evaluation": row.evaluation.get("held_out", {})}


@job_handler("continuity.predict", queue="default")
def predict(ctx: JobContext) -> dict:
    """Predict every ready session the active version has not seen (after training or activating)."""
    try:
        return continuity_run_pending(progress=lambda note: ctx.progress(0, None, note=note))
    except ContinuityModelMissing as exc:
        raise PermanentJobError(str(exc)) from exc


@pipeline_stage(order=30, name="continuity")
def continuity_new_data(*, progress) -> dict:
    return continuity_run_pending(progress=progress)


routing_rule_register("uncertain-continuity", uncertain_continuity_to_review)
