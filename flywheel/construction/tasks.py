"""Construction jobs (llm queue) and the bad-case mining pipeline stage: thin wrappers."""

from flywheel.construction.mining import badcase_mine_pending
from flywheel.construction.services import construction_run_execute
from flywheel.construction.synthesis import synthesis_run_execute
from flywheel.jobs.progress import Progress
from flywheel.jobs.registry import PermanentJobError, RetryableJobError
from flywheel.jobs.services import JobContext
from flywheel.llm.client import LLMRequestRejected, LLMUnavailable


def mine_new_data(*, progress: Progress) -> dict:
    """Cheap and LLM-free: thumbs-down, cleaning flags and other sources become bad cases."""
    return badcase_mine_pending(progress=progress)


def _run(ctx: JobContext, execute) -> dict:
    try:
        return execute(run_id=int(ctx.payload["run_id"]), progress=ctx.progress, check_cancelled=ctx.check_cancelled)
    except LLMUnavailable as exc:
        # Resumes where it stopped: every answer already paid for is stored.
        raise RetryableJobError(str(exc), retry_after_s=exc.retry_after_s) from exc
    except LLMRequestRejected as exc:
        raise PermanentJobError(str(exc)) from exc


def construct(ctx: JobContext) -> dict:
    """Best-of-N construction of the bad cases a run claimed (payload {"run_id"})."""
    return _run(ctx, construction_run_execute)


def synthesize(ctx: JobContext) -> dict:
    """Synthetic samples of one synthesis run (payload {"run_id"})."""
    return _run(ctx, synthesis_run_execute)
