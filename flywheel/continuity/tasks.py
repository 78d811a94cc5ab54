"""Continuity jobs (training, prediction) and the continuity pipeline stage: thin wrappers over
services, registered in ContinuityConfig.ready."""

from flywheel.continuity.services import (
    ContinuityModelMissing,
    ContinuityTrainingError,
    continuity_model_train,
    continuity_run_pending,
)
from flywheel.jobs.progress import Progress
from flywheel.jobs.registry import PermanentJobError
from flywheel.jobs.services import JobContext


def train(ctx: JobContext) -> dict:
    """Train a new classifier version from the stored sessions (payload {"seed", "activate"})."""
    try:
        row = continuity_model_train(
            seed=int(ctx.payload.get("seed", 0)),
            activate=bool(ctx.payload.get("activate", True)),
            job_id=ctx.job_id,
            progress=ctx.progress,
        )
    except ContinuityTrainingError as exc:
        raise PermanentJobError(str(exc)) from exc
    return {"version": row.version, "evaluation": row.evaluation.get("held_out", {})}


def predict(ctx: JobContext) -> dict:
    """Predict every ready session the active version has not seen (after training or activating)."""
    try:
        return continuity_run_pending(progress=ctx.progress)
    except ContinuityModelMissing as exc:
        raise PermanentJobError(str(exc)) from exc


def continuity_new_data(*, progress: Progress) -> dict:
    return continuity_run_pending(progress=progress)
