"""The dataset build job: thin, it calls the service and owns the retry decision."""

from __future__ import annotations

from flywheel.datasets.replay import ReplayError
from flywheel.datasets.services import BuildError, dataset_build_run
from flywheel.jobs.registry import PermanentJobError
from flywheel.jobs.services import JobContext


def build_dataset_version(ctx: JobContext) -> dict:
    try:
        return dataset_build_run(build_id=int(ctx.payload["build_id"]), progress=ctx.progress)
    except (BuildError, ReplayError, ValueError) as exc:
        # The inputs or the config are wrong (a tokenizer without a chat template, a replay line
        # that does not parse...): running again gives the same answer.
        raise PermanentJobError(str(exc)) from exc
