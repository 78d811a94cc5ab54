"""Curation jobs: thin, they call one service and own the retry decision."""

from __future__ import annotations

from flywheel.curation.necessity import necessity_scoring_run, necessity_wake
from flywheel.curation.services import CurationError, curation_ifd_run, curation_reward_run
from flywheel.i18n import message_of
from flywheel.jobs.registry import PermanentJobError
from flywheel.jobs.services import JobContext


def score_ifd(ctx: JobContext) -> dict:
    try:
        return curation_ifd_run(
            version_id=int(ctx.payload["version_id"]),
            model=ctx.payload["model"],
            batch_size=int(ctx.payload.get("batch_size", 8)),
            max_len=int(ctx.payload.get("max_len", 2048)),
            progress=ctx.progress,
        )
    except CurationError as exc:
        # A model without a chat template, an empty version: running again gives the same answer.
        raise PermanentJobError(message_of(exc)) from exc


def score_reward(ctx: JobContext) -> dict:
    try:
        return curation_reward_run(
            version_id=int(ctx.payload["version_id"]),
            model=ctx.payload["model"],
            batch_size=int(ctx.payload.get("batch_size", 8)),
            max_len=int(ctx.payload.get("max_len", 2048)),
            progress=ctx.progress,
        )
    except CurationError as exc:
        raise PermanentJobError(message_of(exc)) from exc


def score_necessity(ctx: JobContext) -> dict:
    try:
        report = necessity_scoring_run(
            prompts_key=str(ctx.payload["prompts"]),
            run_id=int(ctx.payload["run_id"]),
            reward_model=ctx.payload["reward_model"],
            progress=ctx.progress,
        )
    except CurationError as exc:
        raise PermanentJobError(message_of(exc)) from exc
    # The build that asked for these scores goes on now.
    necessity_wake(job_id=ctx.payload.get("wake_job_id"))
    return report
