"""Readers for log files: each turns one record of a file into an ingest batch (the same
shape the HTTP API takes), so imports go through exactly the same validation and writes.

Files are streamed record by record (JSONL line by line, JSON arrays through ijson), so a
multi-GB file never sits in memory, and `ReadLimits` bound what one record (or a gzip bomb)
may make the reader hold. Records without ids get ids derived from their content,
which is what makes a second import of the same file add nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from flywheel.i18n import Text, message_of

FORMATS = ("openai", "sharegpt", "hh-rlhf", "sessions")


class RecordError(ValueError):
    """A record that cannot be turned into a batch; reported with its line number."""


@dataclass
class Record:
    number: int  # line number (JSONL) or item number (JSON array), from 1
    batch: dict[str, list] | None
    # A Text, stored untranslated in the import's report and read in each reader's language.
    error: Text | str | None = None
    stops: bool = False  # the file cannot be read past this record (its error is the file's)


@dataclass(frozen=True)
class ReadLimits:
    """What one file may hold before reading refuses it. Each limit bounds the memory a hostile
    file can take: a line or an array item is never held past its limit (plus one buffer)."""

    decompressed_bytes: int = 20 * 1024**3  # bytes a compressed file may expand to
    line_bytes: int = 16 * 1024**2  # one JSONL line, without its newline
    item_bytes: int = 16 * 1024**2  # one item of a JSON array file
    json_depth: int = 64  # nesting of objects and arrays inside an array item


class _StopReading(Exception):
    """Raised from inside a read, so that a parser stops where the file went wrong."""


class _ItemTooLarge(_StopReading):
    pass


class _CountingReader(io.RawIOBase):
    """Counts the bytes read through it: in total (against a cap on decompressed bytes) and
    since `mark()` (against a cap on one JSON array item)."""

    def __init__(self, inner: IO[bytes], total_cap: int | None):
        self.inner, self.total_cap = inner, total_cap
        self.total = 0
        self.since_mark, self.mark_cap = 0, None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        wanted = len(buffer)
        if self.total_cap is not None:
            # Every byte up to the cap is handed on, so the records before it are all read and
            # the error falls on the record that crosses it.
            wanted = min(wanted, self.total_cap - self.total) or 1
        try:
            data = self.inner.read(wanted)
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream
            raise _StopReading(
                Text("the file cannot be decompressed past this point: %(reason)s", reason=str(exc))
            ) from exc
        count = len(data)
        self.total += count
        self.since_mark += count
        if self.total_cap is not None and self.total > self.total_cap:
            raise _StopReading(
                Text(
                    "the file expands to more than %(limit)s bytes once decompressed "
                    "(FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES); reading stopped here",
                    limit=self.total_cap,
                )
            )
        if self.mark_cap is not None and self.since_mark > self.mark_cap:
            raise _ItemTooLarge()
        buffer[:count] = data
        return count

    def mark(self, cap: int | None) -> None:
        self.since_mark, self.mark_cap = 0, cap


def _digest(raw: bytes | str) -> str:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return hashlib.sha1(data).hexdigest()[:24]


def _messages_with_ids(session_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for position, message in enumerate(messages):
        message = dict(message)
        message.setdefault("id", f"{session_id}:{position}")
        out.append(message)
    return out


def _feedback_from_ratings(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style logs may carry `"rating": 1|-1` on assistant messages."""
    feedback = []
    for message in messages:
        if "rating" in message:
            rating = message.pop("rating")
            feedback.append({"id": f"{message['id']}:rating", "message_id": message["id"], "rating": rating})
    return feedback


def convert_openai(record: Any, raw: bytes) -> dict[str, list]:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise RecordError(Text('expected an object with a "messages" list'))
    session_id = record.get("id") or record.get("session_id") or f"openai:{_digest(raw)}"
    if not isinstance(session_id, str):
        raise RecordError(Text('"id" must be a string'))
    messages = _messages_with_ids(
        session_id, [m if isinstance(m, dict) else {"invalid": m} for m in record["messages"]]
    )
    for message in messages:
        # OpenAI chat logs carry fields Flywheel does not store (name, tool_calls, ...).
        for key in ("name", "tool_calls", "tool_call_id", "function_call", "weight", "train"):
            message.pop(key, None)
    feedback = _feedback_from_ratings(messages)
    session = {"id": session_id, "messages": messages}
    for key in ("app", "channel", "user_id", "model_version", "started_at", "metadata"):
        if key in record:
            session[key] = record[key]
    return {"sessions": [session], "feedback": feedback}


_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function": "tool",
    "function_call": "assistant",
}


def convert_sharegpt(record: Any, raw: bytes) -> dict[str, list]:
    turns = record.get("conversations") if isinstance(record, dict) else None
    if not isinstance(turns, list):
        raise RecordError(Text('expected an object with a "conversations" list'))
    session_id = record.get("id") or f"sharegpt:{_digest(raw)}"
    if not isinstance(session_id, str):
        raise RecordError(Text('"id" must be a string'))
    messages = []
    for position, turn in enumerate(turns):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise RecordError(Text('turn %(turn)s: expected {"from": ..., "value": ...}', turn=position + 1))
        role = _SHAREGPT_ROLES.get(str(turn["from"]).lower())
        if role is None:
            raise RecordError(
                Text("turn %(turn)s: unknown speaker %(speaker)r", turn=position + 1, speaker=str(turn["from"]))
            )
        messages.append({"role": role, "content": turn["value"]})
    session = {"id": session_id, "messages": _messages_with_ids(session_id, messages)}
    if "system" in record and isinstance(record["system"], str) and record["system"]:
        session["messages"].insert(0, {"id": f"{session_id}:system", "role": "system", "content": record["system"]})
    return {"sessions": [session]}


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")


def _hh_turns(transcript: str) -> list[dict[str, str]]:
    parts = _HH_TURN.split(transcript)
    if parts[0].strip():
        raise RecordError(Text("transcript does not start with a Human: or Assistant: turn"))
    turns = []
    for speaker, text in zip(parts[1::2], parts[2::2]):
        turns.append({"role": "user" if speaker == "Human" else "assistant", "content": text})
    return turns


def convert_hh_rlhf(record: Any, raw: bytes) -> dict[str, list]:
    """hh-rlhf: two transcripts that share every turn up to the answer a person preferred.
    The chosen transcript is the session; the rejected answer is an alternative to the chosen
    one at the turn where the two diverge (the last turn, except in a few records whose
    transcripts run on); +1 on the chosen answer, -1 on the rejected one, and a pair."""
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("chosen"), str)
        or not isinstance(record.get("rejected"), str)
    ):
        raise RecordError(Text('expected {"chosen": "...", "rejected": "..."} transcripts'))
    chosen, rejected = _hh_turns(record["chosen"]), _hh_turns(record["rejected"])
    split = next((i for i, (a, b) in enumerate(zip(chosen, rejected)) if a != b), min(len(chosen), len(rejected)))
    if split >= len(chosen) or split >= len(rejected):
        raise RecordError(Text("chosen and rejected transcripts do not differ in an answer"))
    if chosen[split]["role"] != "assistant" or rejected[split]["role"] != "assistant":
        raise RecordError(Text("chosen and rejected transcripts differ in a Human turn, not in an answer"))
    session_id = f"hh:{_digest(raw)}"
    messages = _messages_with_ids(session_id, chosen)
    chosen_id = messages[split]["id"]
    rejected_id = f"{session_id}:rejected"
    messages.append(
        {"id": rejected_id, "role": "assistant", "content": rejected[split]["content"], "alternative_to": chosen_id}
    )
    return {
        "sessions": [{"id": session_id, "app": "hh-rlhf", "messages": messages}],
        "feedback": [
            {"id": f"{chosen_id}:preferred", "message_id": chosen_id, "rating": 1},
            {"id": f"{rejected_id}:dispreferred", "message_id": rejected_id, "rating": -1},
        ],
        "pairs": [{"id": f"{session_id}:pair", "chosen_message_id": chosen_id, "rejected_message_id": rejected_id}],
    }


def convert_sessions(record: Any, raw: bytes) -> dict[str, list]:
    """Flywheel's own shape: one API batch (`{"sessions": [...], "feedback": [...]}`) a line."""
    if not isinstance(record, dict) or not any(k in record for k in ("sessions", "feedback", "pairs")):
        raise RecordError(Text('expected an ingest batch {"sessions": [...], "feedback": [...]}'))
    batch = {}
    for key in ("sessions", "feedback", "pairs"):
        value = record.get(key, [])
        if not isinstance(value, list):
            raise RecordError(Text('"%(key)s" must be a list', key=key))
        batch[key] = value
    return batch


CONVERTERS: dict[str, Callable[[Any, bytes], dict[str, list]]] = {
    "openai": convert_openai,
    "sharegpt": convert_sharegpt,
    "hh-rlhf": convert_hh_rlhf,
    "sessions": convert_sessions,
}


def open_log_file(path: str) -> IO[bytes]:
    """A binary stream over the file, decompressing .gz transparently."""
    raw = open(path, "rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw)
    raw.seek(0)
    return raw


def _first_significant_byte(stream: IO[bytes]) -> bytes:
    buffered = stream if isinstance(stream, io.BufferedReader) else None
    head = buffered.peek(64) if buffered else b""
    return head.lstrip()[:1]


_BUFFER = 1 << 16


def read_records(stream: IO[bytes], fmt: str, limits: ReadLimits = ReadLimits()) -> Iterator[Record]:  # noqa: B008
    """Yield one Record per line (JSONL) or per array item (a JSON array file). A record over a
    limit gets its own error; a file over the decompressed limit, or an array item over its
    limit (an array cannot be picked up again after it), ends with a Record that `stops`."""
    convert = CONVERTERS[fmt]
    compressed = isinstance(stream, gzip.GzipFile)
    counter = _CountingReader(stream, limits.decompressed_bytes if compressed else None)
    buffered = io.BufferedReader(counter, _BUFFER)
    try:
        array = _first_significant_byte(buffered) == b"["
    except _StopReading as exc:
        yield Record(1, None, message_of(exc), stops=True)
        return
    if array:
        yield from _read_array(buffered, counter, convert, limits)
    else:
        yield from _read_lines(buffered, convert, limits)


def _read_lines(stream: io.BufferedReader, convert, limits: ReadLimits) -> Iterator[Record]:
    number = 0
    while True:
        try:
            # Bounded: a line longer than the limit is never held whole (a gzip of one endless
            # line would otherwise fill the memory before the first newline).
            line = stream.readline(limits.line_bytes + 1)
            number += 1
            too_long = len(line) > limits.line_bytes and not line.endswith(b"\n")
            if too_long:
                while (rest := stream.readline(_BUFFER)) and not rest.endswith(b"\n"):
                    pass
        except _StopReading as exc:
            yield Record(number, None, message_of(exc), stops=True)
            return
        if not line:
            return
        if too_long:
            yield Record(
                number,
                None,
                Text(
                    "the line is longer than %(limit)s bytes (FLYWHEEL_IMPORT_MAX_LINE_BYTES)", limit=limits.line_bytes
                ),
            )
            continue
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Record(number, None, Text("not valid UTF-8 at byte %(byte)s", byte=exc.start))
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Record(
                number, None, Text("malformed JSON: %(reason)s (column %(column)s)", reason=exc.msg, column=exc.colno)
            )
            continue
        except RecursionError:
            yield Record(number, None, Text("the JSON is nested too deeply"))
            continue
        yield _convert(number, record, line.strip(), convert)


def _depth_checked(events, max_depth: int):
    """Pass ijson's basic events through, refusing nesting deeper than `max_depth` inside an
    array item before anything is built from it. (ijson.parse alone is no defence: it spells
    out every event's path, so 64 KB of `[` cost it 10 GB; given events checked here, it never
    sees a path longer than the limit.)"""
    depth, limit = 0, max_depth + 1  # the file's own array is one level
    for event in events:
        kind = event[0]
        if kind == "start_map" or kind == "start_array":
            depth += 1
            if depth > limit:
                raise _TooDeep()
        elif kind == "end_map" or kind == "end_array":
            depth -= 1
        yield event


class _TooDeep(Exception):
    pass


def _read_array(stream: io.BufferedReader, counter: _CountingReader, convert, limits: ReadLimits) -> Iterator[Record]:
    number = 0
    buffer = min(_BUFFER, limits.item_bytes)
    # ijson and the buffered reader each read up to one buffer ahead, so the bytes read between
    # two finished items pass the size of the second by at most those buffers (counted twice:
    # some of them were read before the first finished).
    item_cap = limits.item_bytes + 2 * (buffer + _BUFFER)
    counter.mark(item_cap)
    events = ijson.parse(_depth_checked(ijson.basic_parse(stream, buf_size=buffer, use_float=True), limits.json_depth))
    try:
        for number, record in enumerate(ijson.items(events, "item"), start=1):
            counter.mark(item_cap)
            raw = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
            yield _convert(number, record, raw, convert)
    except _ItemTooLarge:
        yield Record(
            number + 1,
            None,
            Text(
                "item %(item)s is larger than %(limit)s bytes (FLYWHEEL_IMPORT_MAX_ITEM_BYTES); "
                "a JSON array cannot be read past it, reading stopped here",
                item=number + 1,
                limit=limits.item_bytes,
            ),
            stops=True,
        )
    except _StopReading as exc:
        yield Record(number + 1, None, message_of(exc), stops=True)
    except _TooDeep:
        yield Record(
            number + 1,
            None,
            Text(
                "item %(item)s is nested deeper than %(limit)s levels (FLYWHEEL_JSON_MAX_DEPTH); "
                "a JSON array cannot be read past it, reading stopped here",
                item=number + 1,
                limit=limits.json_depth,
            ),
            stops=True,
        )
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        # A broken array cannot be resynchronised: report where reading stopped.
        yield Record(
            number + 1,
            None,
            Text("malformed JSON array after item %(item)s: %(reason)s", item=number, reason=str(exc)),
            stops=True,
        )


def _convert(number: int, record: Any, raw: bytes, convert) -> Record:
    try:
        return Record(number, convert(record, raw))
    except RecordError as exc:
        return Record(number, None, message_of(exc))


def sniff_format(path: str) -> str:
    """Guess the format from the keys at the start of the file (for `--format auto`)."""
    with open_log_file(path) as stream:
        head = io.BufferedReader(stream, 1 << 16).peek(1 << 16).decode("utf-8", "replace")
    for marker, fmt in (
        ('"chosen"', "hh-rlhf"),
        ('"conversations"', "sharegpt"),
        ('"sessions"', "sessions"),
        ('"messages"', "openai"),
    ):
        if marker in head:
            return fmt
    raise RecordError(Text("cannot tell the file's format; pass --format"))
