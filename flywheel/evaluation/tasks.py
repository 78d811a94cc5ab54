"""The evaluation job: thin; the work is in services.evaluation_execute."""

from __future__ import annotations

from flywheel.evaluation.services import CandidateError, GenerationUnavailable, evaluation_execute, evaluation_fail
from flywheel.jobs.registry import PermanentJobError, RetryableJobError
from flywheel.llm.client import LLMRequestRejected, LLMUnavailable


def evaluation_run(ctx) -> dict:
    evaluation_id = int(ctx.payload["evaluation_id"])
    try:
        summary = evaluation_execute(evaluation_id=evaluation_id, job_id=ctx.job_id, progress=ctx.progress)
    except (GenerationUnavailable, LLMUnavailable) as exc:
        # A server that is down: wait, then resume with every stored answer and verdict kept.
        raise RetryableJobError(str(exc), retry_after_s=max(5.0, exc.retry_after_s)) from exc
    except (CandidateError, LLMRequestRejected) as exc:
        evaluation_fail(evaluation_id=evaluation_id, error=str(exc))
        raise PermanentJobError(str(exc)) from exc
    return {"evaluation_id": evaluation_id, "items": summary.get("items"), "pairwise": summary.get("pairwise")}
