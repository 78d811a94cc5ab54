"""Judge verdicts through the LLM client (`judge` role), each stored under a key of everything
that determines it, so asking again finds the stored verdict instead of paying.

A judge that stays invalid after the client's two re-asks is dead-lettered: the verdict row is
stored with dead=True and the raw answers (counted in the summary, never turned into a score).
The endpoint being down raises LLMUnavailable, which the job turns into a wait and a resume."""

from __future__ import annotations

import hashlib
import json

from django.db import IntegrityError

from flywheel.evaluation import prompts
from flywheel.evaluation.models import CandidateAnswer, EvalItem, Judgement
from flywheel.llm.client import LLMInvalidOutput, chat_json, model_for


def _key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _store(**fields) -> Judgement:
    try:
        return Judgement.objects.create(**fields)
    except IntegrityError:  # a concurrent attempt stored it first
        return Judgement.objects.get(key=fields["key"])


def _usage(result) -> dict:
    return {
        "calls": 0 if result.cached else result.reasks + 1,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
    }


def judge_pointwise(
    *, item: EvalItem, answer: CandidateAnswer, dimensions: list[str], repeat: int, job_id: int | None = None
) -> Judgement:
    model = model_for("judge")
    key = _key(
        kind="pointwise",
        answer=answer.id,
        repeat=repeat,
        model=model,
        version=prompts.POINTWISE_VERSION,
        dimensions=sorted(dimensions),
    )
    if (stored := Judgement.objects.filter(key=key).first()) is not None:
        return stored
    messages = prompts.pointwise_messages(
        context=item.messages, answer=answer.answer, dimensions=dimensions, reference=item.reference
    )
    common = {
        "key": key,
        "item": item,
        "kind": Judgement.Kind.POINTWISE,
        "answer": answer,
        "repeat": repeat,
        "model": model,
    }
    try:
        # Repeats sample (temperature 0.7, uncached) so that the spread of the judge shows.
        result = chat_json(
            role="judge",
            messages=messages,
            schema=prompts.pointwise_schema(dimensions),
            prompt_version=prompts.POINTWISE_VERSION,
            job_id=job_id,
            temperature=0.0 if repeat == 0 else 0.7,
            use_cache=repeat == 0,
        )
    except LLMInvalidOutput as exc:
        return _store(
            **common,
            dead=True,
            error=f"{exc}\n---\n" + "\n---\n".join(a[:2000] for a in exc.answers),
            usage={"calls": len(exc.answers)},
        )
    scores = {name: float(result.data["scores"][name]) for name in dimensions}
    return _store(**common, scores=scores, reasons=str(result.data.get("reasons", ""))[:4000], usage=_usage(result))


def judge_pairwise(
    *, item: EvalItem, answer: CandidateAnswer, other: CandidateAnswer, order: str, job_id: int | None = None
) -> Judgement:
    """order AB: the candidate's answer shown as A; BA: shown as B."""
    model = model_for("judge")
    key = _key(
        kind="pairwise", answer=answer.id, other=other.id, order=order, model=model, version=prompts.PAIRWISE_VERSION
    )
    if (stored := Judgement.objects.filter(key=key).first()) is not None:
        return stored
    first, second = (answer, other) if order == "AB" else (other, answer)
    messages = prompts.pairwise_messages(
        context=item.messages, answer_a=first.answer, answer_b=second.answer, reference=item.reference
    )
    common = {
        "key": key,
        "item": item,
        "kind": Judgement.Kind.PAIRWISE,
        "answer": answer,
        "other": other,
        "order": order,
        "model": model,
    }
    try:
        result = chat_json(
            role="judge",
            messages=messages,
            schema=prompts.PAIRWISE_SCHEMA,
            prompt_version=prompts.PAIRWISE_VERSION,
            job_id=job_id,
        )
    except LLMInvalidOutput as exc:
        return _store(
            **common,
            dead=True,
            error=f"{exc}\n---\n" + "\n---\n".join(a[:2000] for a in exc.answers),
            usage={"calls": len(exc.answers)},
        )
    return _store(
        **common, winner=result.data["winner"], reasons=str(result.data.get("reasons", ""))[:4000], usage=_usage(result)
    )
