"""Reading and checking conversations: JSONL, one OpenAI-style conversation a line.

    {"messages": [{"role": "user", "content": "..."},
                  {"role": "assistant", "content": "...", "train": true}],
     "task_type": "qa", "weight": 1.0}

`train` (assistant messages only) is read when supervise='flagged'; `task_type` names the
channel whose loss is reported separately; `weight` scales the conversation's turns in the loss
(a weight of 2 counts like the conversation appearing twice).

A role outside ROLES (a dataset's "function", "observation", "human") is accepted only when the
run's `role_map` renames it to one of ROLES; otherwise the line is refused, named.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

ROLES = ("system", "user", "assistant", "tool")
DEFAULT_TASK_TYPE = "default"


class DataError(ValueError):
    """Input data the trainer refuses, with file and line in the message."""


@dataclass
class Conversation:
    messages: list[dict]
    """[{"role", "content", "train"?}], checked."""
    supervised: list[int]
    """Indices of the assistant messages that carry loss."""
    task_type: str
    weight: float
    line_number: int
    """1-based line in the source file, for error messages and reports."""


def read_conversations(path: str | Path, supervise: str, role_map: dict[str, str] | None = None) -> list[Conversation]:
    """Every conversation of a JSONL file, checked; the first bad line raises DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    conversations = []
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
            conversations.append(conversation_from_record(record, supervise, where, line_number, role_map))
    if not conversations:
        raise DataError(f"data file {path} holds no conversation")
    return conversations


def conversation_from_record(
    record: object, supervise: str, where: str, line_number: int = 0, role_map: dict[str, str] | None = None
) -> Conversation:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise DataError(f'{where}: expected an object with a "messages" list')
    messages = []
    for index, message in enumerate(record["messages"]):
        messages.append(checked_message(message, f"{where}: message {index}", role_map))
    if not messages:
        raise DataError(f"{where}: the conversation has no message")
    task_type = record.get("task_type") or DEFAULT_TASK_TYPE
    if not isinstance(task_type, str):
        raise DataError(f"{where}: task_type must be a string, not {task_type!r}")
    weight = record.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
        raise DataError(f"{where}: weight must be a positive number, not {weight!r}")
    supervised = supervised_message_indices(messages, supervise)
    if not supervised:
        raise DataError(f"{where}: no assistant message is supervised (supervise={supervise!r})")
    return Conversation(messages, supervised, task_type, float(weight), line_number)


def checked_message(message: object, where: str, role_map: dict[str, str] | None = None) -> dict:
    if not isinstance(message, dict):
        raise DataError(f"{where}: expected an object with role and content")
    role = message.get("role")
    if role_map and isinstance(role, str) and role in role_map:
        role = role_map[role]
    if role not in ROLES:
        raise DataError(
            f"{where}: unknown role {role!r}; expected one of {', '.join(ROLES)}, or map it to one "
            f'with the run\'s role_map (e.g. {{"{role}": "tool"}})'
        )
    content = message.get("content")
    if not isinstance(content, str):
        raise DataError(f"{where}: content must be a string")
    train = message.get("train")
    if train is not None and not isinstance(train, bool):
        raise DataError(f"{where}: train must be true or false, not {train!r}")
    if train is True and role != "assistant":
        raise DataError(f"{where}: only assistant messages can be trained on (train=true on a {role} message)")
    checked = {"role": role, "content": content}
    if train is not None:
        checked["train"] = train
    return checked


def supervised_message_indices(messages: list[dict], supervise: str) -> list[int]:
    assistant = [index for index, message in enumerate(messages) if message["role"] == "assistant"]
    if supervise == "all":
        return assistant
    if supervise == "last":
        return assistant[-1:]
    if supervise == "flagged":
        return [index for index in assistant if messages[index].get("train", True)]
    raise ValueError(f"unknown supervise mode {supervise!r}")
