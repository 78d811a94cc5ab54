"""The evaluation's two jobs, thin: the work is in services. Generation by local models needs the
gpu worker; endpoint answers and judging are LLM calls, so they run on the llm queue."""

from __future__ import annotations

from flywheel.evaluation.services import (
    CandidateError,
    GenerationUnavailable,
    evaluation_fail,
    evaluation_generate,
    evaluation_judge,
    evaluation_judging_enqueue,
)
from flywheel.jobs.registry import PermanentJobError, RetryableJobError
from flywheel.llm.client import LLMRequestRejected, LLMUnavailable


def evaluation_generate_answers(ctx) -> dict:
    evaluation_id = int(ctx.payload["evaluation_id"])
    try:
        generated = evaluation_generate(evaluation_id=evaluation_id, progress=ctx.progress)
    except GenerationUnavailable as exc:
        # The trainer failed (out of memory, a busy GPU): wait, then resume with every stored answer kept.
        raise RetryableJobError(str(exc), retry_after_s=max(5.0, exc.retry_after_s)) from exc
    except CandidateError as exc:
        evaluation_fail(evaluation_id=evaluation_id, error=str(exc))
        raise PermanentJobError(str(exc)) from exc
    judging = evaluation_judging_enqueue(evaluation_id=evaluation_id)
    return {"evaluation_id": evaluation_id, "generated": generated, "judging_job": judging.id}


def evaluation_judge_answers(ctx) -> dict:
    evaluation_id = int(ctx.payload["evaluation_id"])
    try:
        summary = evaluation_judge(
            evaluation_id=evaluation_id,
            job_id=ctx.job_id,
            progress=ctx.progress,
        )
    except (GenerationUnavailable, LLMUnavailable) as exc:
        # A server that is down: wait, then resume with every stored answer and verdict kept.
        raise RetryableJobError(str(exc), retry_after_s=max(5.0, exc.retry_after_s)) from exc
    except (CandidateError, LLMRequestRejected) as exc:
        evaluation_fail(evaluation_id=evaluation_id, error=str(exc))
        raise PermanentJobError(str(exc)) from exc
    return {"evaluation_id": evaluation_id, "items": summary.get("items"), "pairwise": summary.get("pairwise")}
