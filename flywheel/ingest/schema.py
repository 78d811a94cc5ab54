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

from flywheel.i18n import Text

MAX_CONTENT_CHARS = 200_000
MAX_MESSAGES_PER_SESSION = 2_000
MAX_METADATA_BYTES = 64 * 1024


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and an unpaired surrogate (legal in JSON escapes) is not
    # UTF-8: both would fail the whole insert later, so they are refused here, per item. (A
    # search, not an encode: this runs on every string of every batch.)
    if "\x00" in value:
        raise ValueError(Text("contains a NUL character"))
    if _SURROGATE.search(value):
        raise ValueError(Text("is not valid UTF-8 (unpaired surrogate)"))
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


CleanText = Annotated[StrictStr, AfterValidator(_clean_text)]
ExternalId = Annotated[StrictStr, Field(min_length=1, max_length=128), AfterValidator(_clean_text)]
ShortText = Annotated[StrictStr, Field(max_length=128), AfterValidator(_clean_text)]
Timestamp = Annotated[datetime | None, AfterValidator(_utc)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageIn(_Item):
    id: ExternalId
    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[CleanText, Field(max_length=MAX_CONTENT_CHARS)]
    created_at: Timestamp = None
    model_version: ShortText | None = None
    alternative_to: ExternalId | None = Field(
        default=None, description="Id of the answer this one is an alternative to (same context)."
    )


class SessionIn(_Item):
    id: ExternalId
    app: Annotated[ShortText, Field(max_length=64)] = ""
    channel: Annotated[ShortText, Field(max_length=64)] = ""
    user_id: Annotated[CleanText, Field(max_length=256)] | None = Field(
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
            raise ValueError(Text("nests deeper than %(limit)s levels", limit=limit))
        encoded = json.dumps(value, ensure_ascii=False)
        if len(encoded.encode("utf-8", errors="replace")) > MAX_METADATA_BYTES:
            raise ValueError(Text("is larger than %(limit)s bytes", limit=MAX_METADATA_BYTES))
        _clean_text(encoded)
        return value


class FeedbackIn(_Item):
    id: ExternalId
    message_id: ExternalId
    rating: Literal[1, -1] = Field(description="+1 thumbs up, -1 thumbs down")
    comment: Annotated[CleanText, Field(max_length=10_000)] = ""
    reasons: list[Annotated[ShortText, Field(max_length=64)]] = Field(default_factory=list, max_length=20)
    created_at: Timestamp = None

    @field_validator("rating", mode="before")
    @classmethod
    def _rating_is_an_int(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(Text("must be the integer 1 or -1"))
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


# Pydantic's messages are English only. The problems a batch can have are said again here as
# message ids, so that the `error` of an item reads in the request's language; pydantic's type
# name stays beside it as the code programs match on. `ctx` supplies the numbers.
_PROBLEMS = {
    "missing": Text("is required"),
    "extra_forbidden": Text("is not a field of this item"),
    "string_type": Text("must be a string"),
    "string_too_short": Text("must have at least %(min_length)s characters"),
    "string_too_long": Text("must have at most %(max_length)s characters"),
    "too_short": Text("must have at least %(min_length)s items"),
    "too_long": Text("must have at most %(max_length)s items"),
    "literal_error": Text("must be one of %(expected)s"),
    "list_type": Text("must be a list"),
    "dict_type": Text("must be an object"),
    "model_type": Text("must be an object"),
    "model_attributes_type": Text("must be an object"),
    "datetime_type": Text("must be a date and time (ISO 8601)"),
    "datetime_parsing": Text("must be a date and time (ISO 8601)"),
    "datetime_from_date_parsing": Text("must be a date and time (ISO 8601)"),
}


def _problem(error: dict) -> Text:
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error" and isinstance(ctx.get("error"), ValueError):
        reason = ctx["error"].args[0] if ctx["error"].args else ""
        if isinstance(reason, Text):  # raised by this module's validators
            return reason
    if error["type"] == "string_too_short" and ctx.get("min_length") == 1:
        return Text("must not be empty")
    if error["type"] == "literal_error" and "expected" in ctx:
        # Pydantic writes "'a', 'b' or 'c'": the English "or" would stay in a translation.
        ctx = {"expected": str(ctx["expected"]).replace(" or ", ", ")}
    known = _PROBLEMS.get(error["type"])
    if known is None:
        # A kind not listed above: pydantic's English, rather than nothing.
        return Text("is not valid: %(reason)s", reason=error["msg"])
    return Text(known.msgid, **{name: ctx[name] for name in ("min_length", "max_length", "expected") if name in ctx})


def describe_errors(exc: ValidationError) -> tuple[Text, list[dict[str, str]]]:
    """What is wrong with an item: one readable line for people, `messages.2.role: must be one
    of 'system', 'user', ...` (translated when it is turned into text), and for programs the
    same problems as `{"field": "messages.2.role", "code": "literal_error"}` (pydantic's error
    types, which do not change with the reader's language)."""
    lines, fields = [], []
    for error in exc.errors(include_url=False, include_input=False)[:10]:
        location = ".".join(str(p) for p in error["loc"]) or "item"
        lines.append(Text("%(field)s: %(problem)s", field=location, problem=_problem(error)))
        fields.append({"field": location, "code": error["type"]})
    return joined(lines), fields


def joined(parts: list[Text]) -> Text:
    """Several problems as one Text: `a; b; c` (a Chinese reader gets its own separator)."""
    if len(parts) == 1:
        return parts[0]
    return Text("%(first)s; %(rest)s", first=parts[0], rest=joined(parts[1:]))


# The `code` of a refused item: stable names programs can match on; `error` says the same for
# people, translated.
ERROR_CODES = (
    "invalid_item",  # the item does not have the documented shape: see `fields`
    "repeated_id",  # the same id twice in one batch: the first is written
    "message_id_taken",  # a message id that another session holds
    "invalid_alternative",  # alternative_to on a non-answer, or to a message not of this session
    "unknown_message",  # feedback or a pair names a message that is not stored
    "not_an_answer",  # feedback or a pair on a message that is not an assistant answer
    "same_message",  # a pair whose two sides are one message
    "different_sessions",  # a pair whose two answers are in different sessions
)


class FieldProblem(BaseModel):
    field: str = Field(description="Where, e.g. `messages.2.role` (the field names of the request).")
    code: str = Field(description="Pydantic's error type, e.g. `missing`, `literal_error`, `string_too_long`.")


class ItemResult(BaseModel):
    index: int = Field(description="Position of the item in its list in the request.")
    id: str | None
    status: Literal["created", "appended", "unchanged", "error"]
    code: str | None = Field(
        default=None,
        description="Why the item was refused, for programs: one of " + ", ".join(f"`{c}`" for c in ERROR_CODES) + ".",
    )
    error: str | None = Field(default=None, description="Why, for people, in the request's language (Accept-Language).")
    fields: list[FieldProblem] | None = Field(
        default=None, description="With `invalid_item`: which fields are wrong, each with pydantic's error type."
    )
    messages_created: int | None = None
    messages_unchanged: int | None = None


class IngestResponse(BaseModel):
    sessions: list[ItemResult]
    feedback: list[ItemResult]
    pairs: list[ItemResult]
    counts: dict[str, int]
