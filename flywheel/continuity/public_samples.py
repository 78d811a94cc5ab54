"""Readers for public dialogue samples, to train or evaluate the classifier on real data the
product does not need: KdConv (Chinese, entity-annotated: a change of the knowledge-graph
entity between exchanges is a topic transition) and Anthropic hh-rlhf (English).

Used by `continuity_train --public-samples DIR` (which built the packaged default model) and
the tests; never at run time otherwise.
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
    with gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path, encoding="utf-8") as f:
        data = json.load(f)
    group = group or Path(path).name.split(".")[0]
    out = []
    for conversation in data:
        messages, entities = [], []
        for i, utterance in enumerate(conversation["messages"]):
            messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": utterance["message"]})
            entities.append({a["name"] for a in utterance.get("attrs", [])})
        exchanges = [entities[i] | (entities[i + 1] if i + 1 < len(entities) else set())
                     for i in range(0, len(entities), 2)]
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
        out.append(conv)
    return out


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def hh_rlhf_conversations(path: Path, *, limit: int | None = None, group: str = "hh-rlhf") -> list[LabelledConversation]:
    """The "chosen" transcripts, cut into user/assistant messages; every user turn continues."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path, encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(out) >= limit:
                break
            parts = _HH_TURN.split(json.loads(line)["chosen"])
            messages = [{"role": "user" if parts[i] == "Human" else "assistant", "content": parts[i + 1].strip()}
                        for i in range(1, len(parts) - 1, 2)]
            if messages:
                out.append(real_conversation(messages, group=group))
    return out


def public_sample_sets(directory: Path) -> dict[str, list[LabelledConversation]]:
    """Every known sample file found in `directory`, by name."""
    sets = {}
    for name in ("kdconv-film-dev.json.gz", "kdconv-music-dev.json.gz", "kdconv-travel-dev.json.gz"):
        if (directory / name).exists():
            sets[name.split(".")[0]] = kdconv_conversations(directory / name)
    if (directory / "hh-rlhf-harmless-base-test.jsonl.gz").exists():
        sets["hh-rlhf"] = hh_rlhf_conversations(directory / "hh-rlhf-harmless-base-test.jsonl.gz")
    return sets
