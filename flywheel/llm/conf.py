"""Settings of the LLM client that are not in flywheel/settings.py, read from the environment.

FLYWHEEL_LLM_PRICES          model=input:output prices in USD per million tokens, comma-separated
                             ("gpt-4o=2.5:10,gpt-4o-mini=0.15:0.6"); a model not listed costs 0
                             (unknown), never a guess.
FLYWHEEL_LLM_BACKOFF_BASE_S  first back-off delay when the server gives no Retry-After (doubles
                             per attempt, with jitter).
FLYWHEEL_LLM_BACKOFF_MAX_S   longest single wait inside one call; a longer Retry-After ends the
                             call with LLMUnavailable(retry_after_s=...) so the job is retried later
                             instead of holding a worker.
FLYWHEEL_LLM_JSON_MODE       send response_format={"type": "json_object"} with JSON calls (turn off
                             for servers that reject it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from flywheel.env import env_bool, env_float, env_str


@dataclass(frozen=True)
class Price:
    input_per_million: Decimal
    output_per_million: Decimal


def _parse_prices(raw: str) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            model, numbers = item.rsplit("=", 1)
            input_price, output_price = numbers.split(":")
            prices[model.strip()] = Price(Decimal(input_price), Decimal(output_price))
        except (ValueError, InvalidOperation) as exc:
            raise ImproperlyConfigured(
                f"FLYWHEEL_LLM_PRICES item {item!r} is not model=input:output (USD per million tokens)"
            ) from exc
    return prices


def llm_prices() -> dict[str, Price]:
    return _parse_prices(env_str("FLYWHEEL_LLM_PRICES", "") or "")


def backoff_base_s() -> float:
    return env_float("FLYWHEEL_LLM_BACKOFF_BASE_S", 1.0)


def backoff_max_s() -> float:
    return env_float("FLYWHEEL_LLM_BACKOFF_MAX_S", 60.0)


def json_mode() -> bool:
    return env_bool("FLYWHEEL_LLM_JSON_MODE", True)
