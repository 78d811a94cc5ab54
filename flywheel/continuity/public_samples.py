"""Readers for public dialogue samples, to train or evaluate the classifier on real data the
product does not need:
- KdConv (Chinese, entity-annotated: a change of the knowledge-graph entity between exchanges is
  a topic transition, mostly a smooth one);
- CrossWOZ (Chinese task-oriented sessions: the user moves between attractions, restaurants,
  hotels, metro and taxi; a change of domain in the user's dialogue acts is a real subject change);
- TIAGE (English PersonaChat chit-chat with a human topic-shift label on every utterance);
- Anthropic hh-rlhf (English; every user turn continues).

Each conversation gets a stable `meta["key"]` (source and position or id), which the evaluation
splits on. Used by `continuity_train --public-samples DIR`, `continuity_evaluate` and the tests;
never at run time otherwise.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from flywheel.continuity.data import LabelledConversation, real_conversation

# KdConv's entity changes are mostly smooth (a film, then its lead actor): real transitions,
# but weaker evidence of "a different conversation" than a splice. They count this much.
ENTITY_CHANGE_WEIGHT = 0.3


def kdconv_conversations(path: Path, *, group: str | None = None) -> list[LabelledConversation]:
    """Speakers alternate; the first is the "user". An exchange's entities are those of its user
    utterance and the reply; a user turn continues (1) when they share one with the previous
    exchange, switches (0) when both have entities and share none, unknown otherwise."""
    with _open(path) as f:
        data = json.load(f)
    group = group or Path(path).name.split(".")[0]
    out = []
    for conversation in data:
        messages, entities = [], []
        for i, utterance in enumerate(conversation["messages"]):
            messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": utterance["message"]})
            entities.append({a["name"] for a in utterance.get("attrs", [])})
        exchanges = [
            entities[i] | (entities[i + 1] if i + 1 < len(entities) else set()) for i in range(0, len(entities), 2)
        ]
        labels: list[int | None] = [None]
        weights = {}
        for k in range(1, len(exchanges)):
            before, now = exchanges[k - 1], exchanges[k]
            labels.append(None if not before or not now else int(bool(before & now)))
            if labels[-1] == 0:
                weights[k] = ENTITY_CHANGE_WEIGHT
        conv = real_conversation(messages, group=group, labels=labels)
        conv.meta["weights"] = weights
        conv.meta["name"] = conversation.get("name", "")
        conv.meta["key"] = f"{group}/{len(out)}"
        out.append(conv)
    return out


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def hh_rlhf_conversations(
    path: Path, *, limit: int | None = None, group: str = "hh-rlhf"
) -> list[LabelledConversation]:
    """The "chosen" transcripts, cut into user/assistant messages; every user turn continues."""
    out = []
    with _open(path) as f:
        for index, line in enumerate(f):
            if limit is not None and len(out) >= limit:
                break
            parts = _HH_TURN.split(json.loads(line)["chosen"])
            messages = [
                {"role": "user" if parts[i] == "Human" else "assistant", "content": parts[i + 1].strip()}
                for i in range(1, len(parts) - 1, 2)
            ]
            if messages:
                conv = real_conversation(messages, group=group)
                conv.meta["key"] = f"{group}/{index}"
                out.append(conv)
    return out


def crosswoz_conversations(path: Path, *, group: str = "crosswoz") -> list[LabelledConversation]:
    """A user turn continues (1) when its dialogue acts share a domain with the previous user turn
    that had one, and changes subject (0) when they share none; a turn with no domain (thanks,
    goodbye) is unknown, and so is the turn after it (its reference is older)."""
    with _open(path) as f:
        data = json.load(f)
    out = []
    for dialogue_id, dialogue in data.items():
        messages, labels, previous = [], [], None
        for message in dialogue["messages"]:
            role = "user" if message["role"] == "usr" else "assistant"
            messages.append({"role": role, "content": message["content"]})
            if role != "user":
                continue
            # [intent, domain, slot, value]; greet/thank/bye come as ["General", act, ...]: no subject.
            domains = {act[1] for act in message.get("dialog_act", []) if len(act) > 1 and act[0] != "General"}
            if not labels:
                labels.append(None)
            else:
                labels.append(None if not domains or not previous else int(bool(domains & previous)))
            previous = domains
        conv = real_conversation(messages, group=group, labels=labels)
        conv.meta["key"] = f"{group}/{dialogue_id}"
        out.append(conv)
    return out


def tiage_conversations(path: Path, *, group: str = "tiage") -> list[LabelledConversation]:
    """Two views of each conversation, one per speaker as the "user" (the other one's first
    utterance is dropped so each view starts with its user). A user utterance a person marked as a
    topic shift is a switch (0); any other continues (1), including one that follows a shift the
    other speaker made (it continues the topic now under discussion)."""
    with _open(path) as f:
        data = json.load(f)
    out = []
    for dialogue_id, utterances in data.items():
        for view in (0, 1):
            kept = utterances[view:]
            messages = [
                {"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, (text, _) in enumerate(kept)
            ]
            labels: list[int | None] = [None] + [0 if label == "1" else 1 for _, label in kept[2::2]]
            if len(labels) < 2:
                continue
            conv = real_conversation(messages, group=group, labels=labels)
            # Both views share the key: they must land on the same side of every split.
            conv.meta["key"] = f"{group}/{Path(path).name.split('.')[0]}/{dialogue_id}"
            out.append(conv)
    return out


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path, encoding="utf-8")


KDCONV_FILES = ("kdconv-film-dev.json.gz", "kdconv-music-dev.json.gz", "kdconv-travel-dev.json.gz")


def public_sample_sets(directory: Path) -> dict[str, list[LabelledConversation]]:
    """Every known sample file found in `directory`, by name (the file name without suffixes)."""
    sets = {}
    for name in KDCONV_FILES:
        if (directory / name).exists():
            sets[name.split(".")[0]] = kdconv_conversations(directory / name)
    if (directory / "crosswoz-val.json.gz").exists():
        sets["crosswoz-val"] = crosswoz_conversations(directory / "crosswoz-val.json.gz")
    tiage = [
        c
        for name in ("tiage-train.json.gz", "tiage-dev.json.gz")
        if (directory / name).exists()
        for c in tiage_conversations(directory / name)
    ]
    if tiage:
        sets["tiage"] = tiage
    if (directory / "hh-rlhf-harmless-base-test.jsonl.gz").exists():
        sets["hh-rlhf"] = hh_rlhf_conversations(directory / "hh-rlhf-harmless-base-test.jsonl.gz")
    return sets
