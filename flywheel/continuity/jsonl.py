"""Conversations in JSONL files: what `continuity_predict` reads, and the labelled conversations
`continuity_evaluate --labelled` judges the model on (a team's own human-segmented sessions).

A line is {"messages": [{"role": "user" | "assistant", "content": "..."}, ...]}; ShareGPT's
"from"/"value" keys and role names are read too. A labelled line also has "labels", one per
user turn: null for the first (and for any turn nobody judged), 1 when the turn continues the
topic, 0 when it starts a new one. Text stays data: nothing in a line is evaluated or used as a
path.
"""

from __future__ import annotations

import json
from pathlib import Path

from flywheel.continuity.data import LabelledConversation, real_conversation

# Other exports name the speakers differently (ShareGPT: "from": "human"/"gpt").
ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant", "ai": "assistant"}


class BadLine(ValueError):
    """A line that is not a conversation; the message names the file and line."""


def _text(content, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style content parts: keep the text parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    raise BadLine(f"{where}: content must be text or a list of parts, not {type(content).__name__}")


def conversation_from_line(line: str, where: str) -> tuple[dict, list[dict]]:
    """(the record as read, its messages with roles and text normalised)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise BadLine(f'{where}: expected an object with a "messages" list')
    messages = []
    for index, message in enumerate(record["messages"]):
        role = message.get("role", message.get("from")) if isinstance(message, dict) else None
        if not isinstance(role, str):
            raise BadLine(f'{where}: message {index} needs a "role"')
        content = message.get("content", message.get("value"))
        messages.append(
            {
                "role": ROLE_ALIASES.get(role.lower(), role.lower()),
                "content": _text(content, f"{where}: message {index}"),
            }
        )
    return record, messages


def labelled_conversations(path: Path) -> list[LabelledConversation]:
    """Every conversation of a labelled JSONL file; the first bad line stops it with its number."""
    out = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            record, messages = conversation_from_line(line, where)
            labels = record.get("labels")
            users = sum(1 for m in messages if m["role"] == "user")
            if not isinstance(labels, list) or len(labels) != users:
                raise BadLine(f'{where}: "labels" must be a list with one entry per user turn ({users})')
            if any(label not in (None, 0, 1) or isinstance(label, bool) for label in labels):
                raise BadLine(f"{where}: each label is null, 1 (continues the topic) or 0 (a new topic)")
            conversation = real_conversation(messages, group=path.stem, labels=[None, *labels[1:]] if labels else [])
            conversation.meta["key"] = f"{path.stem}/{record.get('id', number)}"
            out.append(conversation)
    return out
