"""General replay conversations: a JSONL file in the replay directory, mixed into a version to
limit forgetting. Each line is an OpenAI-style conversation (`{"messages": [...]}`, with
optional `train` flags and `task_type`) or a ShareGPT one (`{"conversations": [{"from",
"value"}]}`). A line that is neither is reported with its number, never skipped silently."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings

from flywheel.i18n import Text

SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function_call": "assistant",
}
ROLES = ("system", "user", "assistant", "tool")
MAX_LINES = 1_000_000


class ReplayError(ValueError):
    """A replay file that cannot be used, with the file and line in the message."""


def replay_files() -> list[str]:
    directory = Path(settings.FLYWHEEL_REPLAY_DIR)
    if not directory.is_dir():
        return []
    return sorted(
        p.name for p in directory.iterdir() if p.is_file() and p.suffix == ".jsonl" and not p.name.startswith(".")
    )


def replay_path(name: str) -> Path:
    directory = Path(settings.FLYWHEEL_REPLAY_DIR).resolve()
    path = (directory / name).resolve()
    if path.parent != directory or not path.is_file():
        raise ReplayError(
            Text("there is no replay file %(name)r in %(directory)s", name=name, directory=str(directory))
        )
    return path


def _messages(record: dict, where: str) -> list[dict]:
    if isinstance(record.get("messages"), list):
        raw = [
            (m.get("role"), m.get("content"), m.get("train")) if isinstance(m, dict) else (None, None, None)
            for m in record["messages"]
        ]
    elif isinstance(record.get("conversations"), list):
        raw = [
            (SHAREGPT_ROLES.get(m.get("from")), m.get("value"), None) if isinstance(m, dict) else (None, None, None)
            for m in record["conversations"]
        ]
    else:
        raise ReplayError(Text('%(where)s: expected "messages" (OpenAI) or "conversations" (ShareGPT)', where=where))
    messages = []
    for index, (role, content, train) in enumerate(raw):
        if role not in ROLES or not isinstance(content, str):
            raise ReplayError(
                Text("%(where)s: message %(index)s needs a known role and text content", where=where, index=index)
            )
        messages.append({"role": role, "content": content, "mark": "unticked" if train is False else None})
    if not messages:
        raise ReplayError(Text("%(where)s: the conversation is empty", where=where))
    return messages


def replay_records_read(name: str) -> tuple[list[dict], dict]:
    """The file's conversations ({"messages", "task_type"?, "line", "file_sha256"}) and a
    description of the file for the manifest (name, sha256, lines)."""
    path = replay_path(name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if number > MAX_LINES:
                raise ReplayError(Text("%(name)s has more than %(limit)s lines", name=name, limit=MAX_LINES))
            if not line.strip():
                continue
            where = f"{name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReplayError(Text("%(where)s: not valid JSON (%(reason)s)", where=where, reason=exc.msg)) from exc
            if not isinstance(record, dict):
                raise ReplayError(Text("%(where)s: expected an object", where=where))
            task_type = record.get("task_type")
            records.append(
                {
                    "messages": _messages(record, where),
                    "line": number,
                    "file_sha256": digest,
                    "task_type": task_type if isinstance(task_type, str) and task_type else None,
                }
            )
    return records, {"name": name, "sha256": digest, "conversations": len(records)}
