"""The dataset build job: thin, it calls the service and owns the retry decision."""

from __future__ import annotations

from flywheel.datasets.replay import ReplayError
from flywheel.datasets.services import BuildError, BuildWaiting, dataset_build_run
from flywheel.i18n import message_of
from flywheel.jobs.registry import PermanentJobError, RetryableJobError
from flywheel.jobs.services import JobContext

WAIT_FOR_SCORES_S = 3600.0


def build_dataset_version(ctx: JobContext) -> dict:
    try:
        return dataset_build_run(build_id=int(ctx.payload["build_id"]), progress=ctx.progress)
    except BuildWaiting as exc:
        # The necessity stage's scoring job wakes the build when it is done; the hour is a backstop.
        raise RetryableJobError(message_of(exc), retry_after_s=WAIT_FOR_SCORES_S) from exc
    except (BuildError, ReplayError, ValueError) as exc:
        # The inputs or the config are wrong (a tokenizer without a chat template, a replay line
        # that does not parse...): running again gives the same answer.
        # Kept as a Text where it is one, so the job page shows it in the reader's language.
        raise PermanentJobError(message_of(exc)) from exc
