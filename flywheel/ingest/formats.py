"""Readers for log files: each turns one record of a file into an ingest batch (the same
shape the HTTP API takes), so imports go through exactly the same validation and writes.

Files are streamed record by record (JSONL line by line, JSON arrays through ijson), so a
multi-GB file never sits in memory. Records without ids get ids derived from their content,
which is what makes a second import of the same file add nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterator

import ijson

FORMATS = ("openai", "sharegpt", "hh-rlhf", "sessions")


class RecordError(ValueError):
    """A record that cannot be turned into a batch; reported with its line number."""


@dataclass
class Record:
    number: int  # line number (JSONL) or item number (JSON array), from 1
    batch: dict[str, list] | None
    error: str | None = None


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
        raise RecordError('expected an object with a "messages" list')
    session_id = record.get("id") or record.get("session_id") or f"openai:{_digest(raw)}"
    if not isinstance(session_id, str):
        raise RecordError('"id" must be a string')
    messages = _messages_with_ids(session_id, [m if isinstance(m, dict) else {"invalid": m} for m in record["messages"]])
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
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bing": "assistant", "bard": "assistant", "system": "system", "tool": "tool", "observation": "tool",
    "function": "tool", "function_call": "assistant",
}


def convert_sharegpt(record: Any, raw: bytes) -> dict[str, list]:
    turns = record.get("conversations") if isinstance(record, dict) else None
    if not isinstance(turns, list):
        raise RecordError('expected an object with a "conversations" list')
    session_id = record.get("id") or f"sharegpt:{_digest(raw)}"
    if not isinstance(session_id, str):
        raise RecordError('"id" must be a string')
    messages = []
    for position, turn in enumerate(turns):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise RecordError(f'turn {position + 1}: expected {{"from": ..., "value": ...}}')
        role = _SHAREGPT_ROLES.get(str(turn["from"]).lower())
        if role is None:
            raise RecordError(f"turn {position + 1}: unknown speaker {turn['from']!r}")
        messages.append({"role": role, "content": turn["value"]})
    session = {"id": session_id, "messages": _messages_with_ids(session_id, messages)}
    if "system" in record and isinstance(record["system"], str) and record["system"]:
        session["messages"].insert(0, {"id": f"{session_id}:system", "role": "system", "content": record["system"]})
    return {"sessions": [session]}


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")


def _hh_turns(transcript: str) -> list[dict[str, str]]:
    parts = _HH_TURN.split(transcript)
    if parts[0].strip():
        raise RecordError("transcript does not start with a Human: or Assistant: turn")
    turns = []
    for speaker, text in zip(parts[1::2], parts[2::2]):
        turns.append({"role": "user" if speaker == "Human" else "assistant", "content": text})
    return turns


def convert_hh_rlhf(record: Any, raw: bytes) -> dict[str, list]:
    """hh-rlhf: two transcripts that share every turn up to the answer a person preferred.
    The chosen transcript is the session; the rejected answer is an alternative to the chosen
    one at the turn where the two diverge (the last turn, except in a few records whose
    transcripts run on); +1 on the chosen answer, -1 on the rejected one, and a pair."""
    if not isinstance(record, dict) or not isinstance(record.get("chosen"), str) or not isinstance(
        record.get("rejected"), str
    ):
        raise RecordError('expected {"chosen": "...", "rejected": "..."} transcripts')
    chosen, rejected = _hh_turns(record["chosen"]), _hh_turns(record["rejected"])
    split = next((i for i, (a, b) in enumerate(zip(chosen, rejected)) if a != b), min(len(chosen), len(rejected)))
    if split >= len(chosen) or split >= len(rejected):
        raise RecordError("chosen and rejected transcripts do not differ in an answer")
    if chosen[split]["role"] != "assistant" or rejected[split]["role"] != "assistant":
        raise RecordError("chosen and rejected transcripts differ in a Human turn, not in an answer")
    session_id = f"hh:{_digest(raw)}"
    messages = _messages_with_ids(session_id, chosen)
    chosen_id = messages[split]["id"]
    rejected_id = f"{session_id}:rejected"
    messages.append({"id": rejected_id, "role": "assistant", "content": rejected[split]["content"],
                     "alternative_to": chosen_id})
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
        raise RecordError('expected an ingest batch {"sessions": [...], "feedback": [...]}')
    batch = {}
    for key in ("sessions", "feedback", "pairs"):
        value = record.get(key, [])
        if not isinstance(value, list):
            raise RecordError(f'"{key}" must be a list')
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


def read_records(stream: IO[bytes], fmt: str) -> Iterator[Record]:
    """Yield one Record per line (JSONL) or per array item (a JSON array file)."""
    convert = CONVERTERS[fmt]
    stream = io.BufferedReader(stream) if not isinstance(stream, io.BufferedReader) else stream
    if _first_significant_byte(stream) == b"[":
        yield from _read_array(stream, convert)
        return
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Record(number, None, f"not valid UTF-8 at byte {exc.start}")
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Record(number, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        yield _convert(number, record, line.strip(), convert)


def _read_array(stream: IO[bytes], convert) -> Iterator[Record]:
    number = 0
    try:
        for number, record in enumerate(ijson.items(stream, "item", use_float=True), start=1):
            raw = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
            yield _convert(number, record, raw, convert)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        # A broken array cannot be resynchronised: report where reading stopped.
        yield Record(number + 1, None, f"malformed JSON array after item {number}: {exc}")


def _convert(number: int, record: Any, raw: bytes, convert) -> Record:
    try:
        return Record(number, convert(record, raw))
    except RecordError as exc:
        return Record(number, None, str(exc))


def sniff_format(path: str) -> str:
    """Guess the format from the keys at the start of the file (for `--format auto`)."""
    with open_log_file(path) as stream:
        head = io.BufferedReader(stream, 1 << 16).peek(1 << 16).decode("utf-8", "replace")
    for marker, fmt in (('"chosen"', "hh-rlhf"), ('"conversations"', "sharegpt"), ('"sessions"', "sessions"),
                        ('"messages"', "openai")):
        if marker in head:
            return fmt
    raise RecordError("cannot tell the file's format; pass --format")
