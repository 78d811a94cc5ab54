"""Model prices for the cost of LLM calls (FLYWHEEL_LLM_PRICES, parsed once by settings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Price:
    input_per_million: Decimal
    output_per_million: Decimal


def prices_parse(raw: str) -> dict[str, Price]:
    """ "gpt-4o=2.5:10,gpt-4o-mini=0.15:0.6" (USD per million input:output tokens) -> {model: Price}.
    A model not listed costs 0 (unknown), never a guess."""
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
