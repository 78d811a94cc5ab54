"""The one place that talks to an OpenAI-compatible server (OpenAI, vLLM, Ollama, a gateway).

Public API (everything else in this module is private):

    llm_is_configured() -> bool
        False when OPENAI_BASE_URL is empty; callers then use their offline path.
    model_for(role) -> str
        "label" -> FLYWHEEL_LABEL_MODEL, "teacher" -> FLYWHEEL_TEACHER_MODEL,
        "judge" -> FLYWHEEL_JUDGE_MODEL.
    chat_json(*, role, messages, schema, prompt_version, job_id=None, validate=None, ...) -> JsonResult
        One JSON answer validated against a JSON schema (and `validate`, a callable raising
        ValueError, for rules a schema cannot say). An invalid answer is re-asked at most twice
        (FLYWHEEL's re-ask, with the validation error); then LLMInvalidOutput is raised: the
        caller dead-letters the item. Valid answers are cached by hash of (model, prompt
        version, messages, schema): asking again costs nothing.
    chat_texts(*, role, messages, n=1, temperature=0.7, job_id=None, model=None, ...) -> TextResult
        n free-text answers (Best-of-N, synthesis, evaluation candidates: `model` names another
        model on the same server); cached only when `prompt_version` is given and use_cache=True.
    usage_for_job(job_id) -> dict
        Token and cost totals recorded for a job (per role and model, and summed).

Errors: LLMNotConfigured, LLMUnavailable (429/5xx/timeouts/broken bodies outlasted our retries;
carries retry_after_s: raise RetryableJobError from it), LLMRequestRejected (other 4xx: retrying
will not help), LLMInvalidOutput (the answer stayed invalid after the re-asks; carries the raw
answers and errors for the dead-letter row).

Robustness: the SDK's own retries are off (max_retries=0) so there is exactly one retry layer,
this one. It honours Retry-After (and retry-after-ms) on 429 and 5xx, otherwise backs off
exponentially with jitter; a Retry-After longer than FLYWHEEL_LLM_BACKOFF_MAX_S is not slept
through but handed to the job system. Every request has a timeout (FLYWHEEL_LLM_TIMEOUT_S) and
at most FLYWHEEL_LLM_CONCURRENCY requests are in flight per process.

Callers must pass only PII-scrubbed text (flywheel.cleaning.services.message_texts_for_llm).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import jsonschema
import openai
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from flywheel.llm.models import LLMCacheEntry, LLMUsage

logger = logging.getLogger(__name__)

ROLES = ("label", "teacher", "judge")
_sleep = time.sleep  # one name for the retry layer's waits (tests record them instead)
MAX_REASKS = 2


class LLMError(Exception):
    pass


class LLMNotConfigured(LLMError):
    pass


class LLMUnavailable(LLMError):
    """The server kept failing (rate limits, 5xx, timeouts); try again after retry_after_s."""

    def __init__(self, message: str, *, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMRequestRejected(LLMError):
    """A 4xx other than 429 (bad request, auth, unknown model): retrying will not help."""


class LLMInvalidOutput(LLMError):
    """The answer was still invalid after the re-asks."""

    def __init__(self, message: str, *, answers: list[str], errors: list[str]):
        super().__init__(message)
        self.answers = answers
        self.errors = errors


@dataclass
class JsonResult:
    data: dict
    content: str
    model: str
    prompt_version: str
    cached: bool
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class TextResult:
    contents: list[str]
    model: str
    cached: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)


def llm_is_configured() -> bool:
    return bool(settings.OPENAI_BASE_URL)


def model_for(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown LLM role {role!r}; use one of {ROLES}")
    return {
        "label": settings.FLYWHEEL_LABEL_MODEL,
        "teacher": settings.FLYWHEEL_TEACHER_MODEL,
        "judge": settings.FLYWHEEL_JUDGE_MODEL,
    }[role]


# --- the SDK client and the concurrency limit --------------------------------------------------

_clients: dict[tuple, openai.OpenAI] = {}
_clients_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def _sdk_client() -> openai.OpenAI:
    if not llm_is_configured():
        raise LLMNotConfigured("OPENAI_BASE_URL is not set; use the offline path")
    key = (settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.FLYWHEEL_LLM_TIMEOUT_S)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = openai.OpenAI(
                base_url=settings.OPENAI_BASE_URL,
                # Local servers (vLLM, Ollama) accept any key; the SDK insists on one.
                api_key=settings.OPENAI_API_KEY or "not-needed",
                timeout=settings.FLYWHEEL_LLM_TIMEOUT_S,
                max_retries=0,  # one retry layer only: ours
            )
        return _clients[key]


def _slot() -> threading.BoundedSemaphore:
    limit = settings.FLYWHEEL_LLM_CONCURRENCY
    with _clients_lock:
        if limit not in _slots:
            _slots[limit] = threading.BoundedSemaphore(limit)
        return _slots[limit]


# --- retries -----------------------------------------------------------------------------------


def _retry_after_s(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, (openai.RateLimitError, openai.APIConnectionError, openai.APIResponseValidationError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409)
    # A body cut off mid-JSON surfaces from the SDK as a plain decode error.
    return isinstance(exc, json.JSONDecodeError)


def _create_with_retries(*, role: str, model: str, job_id: int | None, request: dict):
    client = _sdk_client()
    attempts = settings.FLYWHEEL_LLM_MAX_RETRIES + 1
    for attempt in range(attempts):
        try:
            with _slot():
                return client.chat.completions.create(model=model, **request)
        except Exception as exc:
            if not _is_transient(exc):
                if isinstance(exc, openai.APIStatusError):
                    raise LLMRequestRejected(f"{model}: HTTP {exc.status_code}: {exc}") from exc
                raise
            _usage_add(job_id=job_id, role=role, model=model, failed_calls=1)
            hinted = _retry_after_s(exc)
            delay = hinted if hinted is not None else _backoff_s(attempt)
            last = attempt == attempts - 1
            logger.warning(
                "LLM %s call failed (attempt %s/%s, retry in %.1fs): %s", role, attempt + 1, attempts, delay, exc
            )
            if last or delay > settings.FLYWHEEL_LLM_BACKOFF_MAX_S:
                raise LLMUnavailable(
                    f"{model} unavailable after {attempt + 1} attempts: {type(exc).__name__}: {exc}",
                    retry_after_s=max(delay, 1.0),
                ) from exc
            _sleep(delay)
    raise AssertionError("unreachable")


def _backoff_s(attempt: int) -> float:
    base = settings.FLYWHEEL_LLM_BACKOFF_BASE_S * (2**attempt)
    return min(settings.FLYWHEEL_LLM_BACKOFF_MAX_S, base * (0.5 + random.random() / 2))


# --- accounting --------------------------------------------------------------------------------


def _cost(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    price = settings.FLYWHEEL_LLM_PRICES.get(model)
    if price is None:
        return Decimal(0)
    return (price.input_per_million * prompt_tokens + price.output_per_million * completion_tokens) / Decimal(1_000_000)


def _usage_add(*, job_id: int | None, role: str, model: str, **counts) -> None:
    if counts.get("prompt_tokens") or counts.get("completion_tokens"):
        counts["cost_usd"] = _cost(model, counts.get("prompt_tokens", 0), counts.get("completion_tokens", 0))
    increments = {name: F(name) + value for name, value in counts.items() if value}
    if not increments:
        return
    rows = LLMUsage.objects.filter(job_id=job_id, role=role, model=model)
    if rows.update(**increments, updated_at=timezone.now()):
        return
    try:
        with transaction.atomic():
            LLMUsage.objects.create(job_id=job_id, role=role, model=model, **counts)
    except IntegrityError:  # another thread created it first
        rows.update(**increments, updated_at=timezone.now())


def usage_for_job(job_id: int) -> dict:
    rows = list(LLMUsage.objects.filter(job_id=job_id).order_by("role", "model"))
    totals = LLMUsage.objects.filter(job_id=job_id).aggregate(
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        cost_usd=Sum("cost_usd"),
        calls=Sum("calls"),
        cache_hits=Sum("cache_hits"),
        failed_calls=Sum("failed_calls"),
        reasks=Sum("reasks"),
    )
    return {
        "rows": [
            {
                "role": r.role,
                "model": r.model,
                "calls": r.calls,
                "failed_calls": r.failed_calls,
                "cache_hits": r.cache_hits,
                "reasks": r.reasks,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cost_usd": str(r.cost_usd),
            }
            for r in rows
        ],
        "total": {k: (str(v) if isinstance(v, Decimal) else (v or 0)) for k, v in totals.items()},
    }


# --- caching -----------------------------------------------------------------------------------


def cache_key(*, model: str, prompt_version: str, messages: list[dict], extra: Any = None) -> str:
    material = json.dumps(
        {"model": model, "prompt_version": prompt_version, "messages": messages, "extra": extra},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _cache_get(key: str) -> LLMCacheEntry | None:
    return LLMCacheEntry.objects.filter(key=key).first()


def _cache_put(*, key: str, role: str, model: str, prompt_version: str, content: str, parsed, usage) -> None:
    LLMCacheEntry.objects.get_or_create(
        key=key,
        defaults={
            "role": role,
            "model": model,
            "prompt_version": prompt_version,
            "content": content,
            "parsed": parsed,
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
        },
    )


# --- JSON answers ------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_json_object(content: str) -> dict:
    """The JSON object in an answer; tolerates a Markdown code fence around it."""
    match = _FENCE.match(content or "")
    text = match.group(1) if match else (content or "").strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:  # a model (or a prompt injection) can answer with thousands of "["
        raise ValueError("the answer is JSON nested too deeply to read") from None
    if not isinstance(value, dict):
        raise ValueError("the answer must be a JSON object")
    return value


def _schema_error(data: dict, schema: dict) -> str | None:
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"


def _usage_of(response) -> tuple[int, int]:
    usage = getattr(response, "usage", None)
    return (int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0))


def chat_json(
    *,
    role: str,
    messages: list[dict],
    schema: dict,
    prompt_version: str,
    job_id: int | None = None,
    validate: Callable[[dict], None] | None = None,
    temperature: float = 0.0,
    max_tokens: int | None = None,
    use_cache: bool = True,
) -> JsonResult:
    model = model_for(role)
    key = cache_key(model=model, prompt_version=prompt_version, messages=messages, extra=schema)
    if use_cache and (hit := _cache_get(key)) is not None:
        _usage_add(job_id=job_id, role=role, model=model, cache_hits=1)
        return JsonResult(
            data=hit.parsed,
            content=hit.content,
            model=model,
            prompt_version=prompt_version,
            cached=True,
            prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens,
        )

    conversation = list(messages)
    answers: list[str] = []
    errors: list[str] = []
    prompt_total = completion_total = 0
    for reask in range(MAX_REASKS + 1):
        request: dict[str, Any] = {"messages": conversation, "temperature": temperature}
        if max_tokens:
            request["max_tokens"] = max_tokens
        if settings.FLYWHEEL_LLM_JSON_MODE:
            request["response_format"] = {"type": "json_object"}
        response = _create_with_retries(role=role, model=model, job_id=job_id, request=request)
        prompt_tokens, completion_tokens = _usage_of(response)
        prompt_total += prompt_tokens
        completion_total += completion_tokens
        _usage_add(
            job_id=job_id,
            role=role,
            model=model,
            calls=1,
            reasks=1 if reask else 0,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        content = (response.choices[0].message.content or "") if response.choices else ""
        answers.append(content)
        try:
            data = parse_json_object(content)
            problem = _schema_error(data, schema)
            if problem is None and validate is not None:
                validate(data)
        except ValueError as exc:
            problem = str(exc)
        if problem is None:
            if use_cache:
                _cache_put(
                    key=key,
                    role=role,
                    model=model,
                    prompt_version=prompt_version,
                    content=content,
                    parsed=data,
                    usage=(prompt_tokens, completion_tokens),
                )
            return JsonResult(
                data=data,
                content=content,
                model=model,
                prompt_version=prompt_version,
                cached=False,
                reasks=reask,
                prompt_tokens=prompt_total,
                completion_tokens=completion_total,
            )
        errors.append(problem)
        # Re-ask in the same conversation so the model sees what it got wrong.
        conversation = conversation + [
            {"role": "assistant", "content": content[:4000]},
            {
                "role": "user",
                "content": (
                    f"Your reply was rejected: {problem}. Reply again with only one JSON object that "
                    f"follows the required format exactly, nothing else."
                ),
            },
        ]
    raise LLMInvalidOutput(
        f"{model} gave no valid answer in {MAX_REASKS + 1} tries: {errors[-1]}", answers=answers, errors=errors
    )


def chat_texts(
    *,
    role: str,
    messages: list[dict],
    n: int = 1,
    temperature: float = 0.7,
    max_tokens: int | None = None,
    job_id: int | None = None,
    prompt_version: str = "",
    use_cache: bool = False,
    model: str | None = None,
) -> TextResult:
    # `model`: another model on the same server (an evaluation candidate), billed under `role`.
    model = model or model_for(role)
    key = cache_key(
        model=model,
        prompt_version=prompt_version,
        messages=messages,
        extra={"n": n, "temperature": temperature, "max_tokens": max_tokens},
    )
    if use_cache and prompt_version and (hit := _cache_get(key)) is not None:
        _usage_add(job_id=job_id, role=role, model=model, cache_hits=1)
        return TextResult(
            contents=list(hit.parsed["contents"]),
            model=model,
            cached=True,
            prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens,
        )
    request: dict[str, Any] = {"messages": messages, "temperature": temperature, "n": n}
    if max_tokens:
        request["max_tokens"] = max_tokens
    response = _create_with_retries(role=role, model=model, job_id=job_id, request=request)
    prompt_tokens, completion_tokens = _usage_of(response)
    _usage_add(
        job_id=job_id, role=role, model=model, calls=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )
    contents = [choice.message.content or "" for choice in response.choices]
    reasons = [str(choice.finish_reason or "") for choice in response.choices]
    if use_cache and prompt_version:
        _cache_put(
            key=key,
            role=role,
            model=model,
            prompt_version=prompt_version,
            content=contents[0] if contents else "",
            parsed={"contents": contents},
            usage=(prompt_tokens, completion_tokens),
        )
    return TextResult(
        contents=contents,
        model=model,
        cached=False,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reasons=reasons,
    )
