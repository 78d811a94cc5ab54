"""Budgeted LLM calls: every teacher and judge call of a run goes through a `Ledger`, which
refuses to start a call once the run's call or cost budget is spent, and records each call
(prompt, answers, requests, tokens, cost) as an `LLMCall` row, the ledger the budget is read
from. A resumed run reads what it already spent from those rows.

Budgets are checked before each call: a JSON call may re-ask twice for an invalid answer, so
the last call of a run can overrun the call budget by at most two requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from flywheel.construction.models import ConstructionRun, LLMCall
from flywheel.llm.client import JsonResult, LLMInvalidOutput, TextResult, chat_json, chat_texts, model_for


class BudgetExhausted(Exception):
    """The run's call or cost budget is spent; the message says which and how much was used."""


@dataclass
class JsonCall:
    record: LLMCall
    result: JsonResult | None  # None: the answer stayed invalid after the re-asks (record.error says why)


def _cost(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    price = settings.FLYWHEEL_LLM_PRICES.get(model)
    if price is None:
        return Decimal(0)
    return (price.input_per_million * prompt_tokens + price.output_per_million * completion_tokens) / Decimal(1_000_000)


class Ledger:
    def __init__(self, run: ConstructionRun, *, max_calls: int, max_cost_usd: float):
        self.run = run
        self.max_calls = max_calls
        self.max_cost_usd = Decimal(str(max_cost_usd or 0))
        spent = LLMCall.objects.filter(run=run).aggregate(requests=Sum("requests"), cost=Sum("cost_usd"))
        self.requests = int(spent["requests"] or 0)
        self.cost = Decimal(spent["cost"] or 0)

    def spent(self) -> dict:
        return {
            "llm_calls": self.requests,
            "cost_usd": float(self.cost),
            "max_calls": self.max_calls,
            "max_cost_usd": float(self.max_cost_usd),
        }

    def check(self) -> None:
        if self.requests >= self.max_calls:
            raise BudgetExhausted(f"the call budget is spent: {self.requests} of {self.max_calls} LLM requests used")
        if self.max_cost_usd and self.cost >= self.max_cost_usd:
            raise BudgetExhausted(f"the cost budget is spent: ${self.cost:.4f} of ${self.max_cost_usd:.4f} used")

    def _record(self, **fields) -> LLMCall:
        record = LLMCall.objects.create(run=self.run, **fields)
        self.requests += record.requests
        self.cost += record.cost_usd
        return record

    def json(
        self,
        *,
        purpose: str,
        role: str,
        messages: list[dict],
        schema: dict,
        prompt_version: str,
        bad_case=None,
        synthetic=None,
        validate: Callable[[dict], None] | None = None,
        temperature: float = 0.0,
        use_cache: bool = True,
        on_answer: Callable[[JsonCall], None] | None = None,
    ) -> JsonCall:
        """One validated JSON answer. An answer still invalid after the re-asks is recorded as a
        failed call (its raw answers kept) and returned with `result=None`: the caller counts a
        judge failure instead of crashing. Unavailable servers and rejected requests raise."""
        self.check()
        model = model_for(role)
        common = dict(
            purpose=purpose,
            role=role,
            model=model,
            prompt_version=prompt_version,
            messages=messages,
            bad_case=bad_case,
            synthetic=synthetic,
        )
        try:
            result = chat_json(
                role=role,
                messages=messages,
                schema=schema,
                prompt_version=prompt_version,
                job_id=self.run.job_id,
                validate=validate,
                temperature=temperature,
                use_cache=use_cache,
            )
        except LLMInvalidOutput as exc:
            with transaction.atomic():
                record = self._record(
                    **common,
                    answers=[a[:20_000] for a in exc.answers],
                    requests=len(exc.answers),
                    ok=False,
                    error="; ".join(exc.errors)[:5000],
                )
                call = JsonCall(record=record, result=None)
                if on_answer is not None:
                    on_answer(call)
            return call
        requests = 0 if result.cached else result.reasks + 1
        with transaction.atomic():
            record = self._record(
                **common,
                answers=[result.content[:20_000]],
                requests=requests,
                cached=result.cached,
                prompt_tokens=0 if result.cached else result.prompt_tokens,
                completion_tokens=0 if result.cached else result.completion_tokens,
                cost_usd=Decimal(0) if result.cached else _cost(model, result.prompt_tokens, result.completion_tokens),
            )
            call = JsonCall(record=record, result=result)
            if on_answer is not None:
                on_answer(call)
        return call

    def texts(
        self,
        *,
        purpose: str,
        messages: list[dict],
        n: int,
        temperature: float,
        prompt_version: str,
        bad_case=None,
        synthetic=None,
        on_answer: Callable[[LLMCall, TextResult], None] | None = None,
    ) -> tuple[LLMCall, TextResult]:
        """n free-text answers from the teacher (never cached: Best-of-N wants fresh samples).
        `on_answer` runs with the recorded call, so callers store what they got in the same
        transaction as the ledger row."""
        self.check()
        model = model_for("teacher")
        result = chat_texts(
            role="teacher",
            messages=messages,
            n=n,
            temperature=temperature,
            job_id=self.run.job_id,
            prompt_version=prompt_version,
            use_cache=False,
        )
        with transaction.atomic():
            record = self._record(
                purpose=purpose,
                role="teacher",
                model=model,
                prompt_version=prompt_version,
                messages=messages,
                answers=[c[:20_000] for c in result.contents],
                requests=1,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                cost_usd=_cost(model, result.prompt_tokens, result.completion_tokens),
                bad_case=bad_case,
                synthetic=synthetic,
            )
            if on_answer is not None:
                on_answer(record, result)
        return record, result
