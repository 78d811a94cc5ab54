"""The training job, on the gpu queue: thin, it calls the execution service."""

from __future__ import annotations

from flywheel.jobs.services import JobContext
from flywheel.runs.execution import training_run_execute


def train(ctx: JobContext) -> dict:
    return training_run_execute(run_id=int(ctx.payload["run_id"]), ctx=ctx)
