"""The shape of an ingest batch, validated item by item.

Pydantic validates each item on its own, so one bad session or feedback item gets its own
error and never rejects its neighbours. Ids and ratings are strict (no "1" for 1, no true for
1); times are ISO 8601 strings, read as UTC when they carry no offset.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
)

MAX_CONTENT_CHARS = 200_000
MAX_MESSAGES_PER_SESSION = 2_000
MAX_METADATA_BYTES = 64 * 1024


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and an unpaired surrogate (legal in JSON escapes) is not
    # UTF-8: both would fail the whole insert later, so they are refused here, per item. (A
    # search, not an encode: this runs on every string of every batch.)
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if _SURROGATE.search(value):
        raise ValueError("is not valid UTF-8 (unpaired surrogate)")
    return value


def json_depth_over(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than `limit` levels (counted without recursion,
    so that no depth can raise RecursionError here)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Text = Annotated[StrictStr, AfterValidator(_clean_text)]
ExternalId = Annotated[StrictStr, Field(min_length=1, max_length=128), AfterValidator(_clean_text)]
ShortText = Annotated[StrictStr, Field(max_length=128), AfterValidator(_clean_text)]
Timestamp = Annotated[datetime | None, AfterValidator(_utc)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageIn(_Item):
    id: ExternalId
    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[Text, Field(max_length=MAX_CONTENT_CHARS)]
    created_at: Timestamp = None
    model_version: ShortText | None = None
    alternative_to: ExternalId | None = Field(
        default=None, description="Id of the answer this one is an alternative to (same context)."
    )


class SessionIn(_Item):
    id: ExternalId
    app: Annotated[ShortText, Field(max_length=64)] = ""
    channel: Annotated[ShortText, Field(max_length=64)] = ""
    user_id: Annotated[Text, Field(max_length=256)] | None = Field(
        default=None, description="The client's user id; stored only as a keyed hash."
    )
    model_version: ShortText = ""
    started_at: Timestamp = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    messages: list[MessageIn] = Field(default_factory=list, max_length=MAX_MESSAGES_PER_SESSION)

    @field_validator("metadata")
    @classmethod
    def _metadata_is_small_and_clean(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Before json.dumps, which recurses once per level.
        limit = settings.FLYWHEEL_JSON_MAX_DEPTH
        if json_depth_over(value, limit):
            raise ValueError(f"nests deeper than {limit} levels")
        encoded = json.dumps(value, ensure_ascii=False)
        if len(encoded.encode("utf-8", errors="replace")) > MAX_METADATA_BYTES:
            raise ValueError(f"is larger than {MAX_METADATA_BYTES} bytes")
        _clean_text(encoded)
        return value


class FeedbackIn(_Item):
    id: ExternalId
    message_id: ExternalId
    rating: Literal[1, -1] = Field(description="+1 thumbs up, -1 thumbs down")
    comment: Annotated[Text, Field(max_length=10_000)] = ""
    reasons: list[Annotated[ShortText, Field(max_length=64)]] = Field(default_factory=list, max_length=20)
    created_at: Timestamp = None

    @field_validator("rating", mode="before")
    @classmethod
    def _rating_is_an_int(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("must be the integer 1 or -1")
        return value


class PairIn(_Item):
    id: ExternalId
    chosen_message_id: ExternalId
    rejected_message_id: ExternalId


class IngestRequest(BaseModel):
    """Documentation of the whole body (items are validated one by one, not through this)."""

    sessions: list[SessionIn] = Field(default_factory=list)
    feedback: list[FeedbackIn] = Field(default_factory=list)
    pairs: list[PairIn] = Field(default_factory=list)


def describe_errors(exc: ValidationError) -> str:
    """One readable line: `messages.2.role: Input should be 'system', 'user', ...`."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:10]:
        location = ".".join(str(p) for p in error["loc"]) or "item"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


class ItemResult(BaseModel):
    index: int = Field(description="Position of the item in its list in the request.")
    id: str | None
    status: Literal["created", "appended", "unchanged", "error"]
    error: str | None = None
    messages_created: int | None = None
    messages_unchanged: int | None = None


class IngestResponse(BaseModel):
    sessions: list[ItemResult]
    feedback: list[ItemResult]
    pairs: list[ItemResult]
    counts: dict[str, int]
