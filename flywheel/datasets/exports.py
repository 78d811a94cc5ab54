"""Exports of a version, one JSON object a line, streamed from the database page by page.

SFT conversations:
  openai    {"messages": [{"role", "content", "train"?}], "task_type", "weight"?}
            exactly what `python -m training sft` reads (with supervise="flagged"): `train` on
            every assistant message, `weight` only when it is not 1.
  sharegpt  {"conversations": [{"from": "system"|"human"|"gpt"|"observation", "value"}],
             "task_type"} — ShareGPT as LLaMA-Factory and Axolotl read it. It has no per-turn
            loss flags: tools train on every "gpt" turn, so untrained answers before the last
            trained one are trained there too (the conversation still ends at the last trained one).
  alpaca    {"instruction", "input": "", "output", "system"?, "history": [[user, assistant], ...],
             "task_type"} — the last trained answer is `output`, the user turn before it
            `instruction`, earlier exchanges `history` (LLaMA-Factory's alpaca with history).
Preference pairs:
  trl       {"prompt": [{"role", "content"}...], "chosen": [{"role": "assistant", "content"}],
             "rejected": [{"role": "assistant", "content"}]} — TRL's conversational preference
            format (DPOTrainer, RewardTrainer).
  openrlhf  {"chosen": [...prompt messages, {"role": "assistant", "content"}], "rejected": [...]}
            — full conversations; OpenRLHF reads them with --chosen_key chosen --rejected_key
            rejected --apply_chat_template (DPO takes the prompt from the shared prefix).
Everything:
  lineage   {"position", "split", "kind", "task_type", "source", "sample_hash", "weight",
             "pseudo_multi_turn", "reviewed", "tokens", "lineage"} — where each sample came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from flywheel.datasets.models import DatasetSample, DatasetVersion
from flywheel.i18n import Text

PAGE = 500
SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}


def _openai(sample: DatasetSample) -> dict:
    line = {"messages": sample.record["messages"], "task_type": sample.task_type}
    if sample.weight != 1.0:
        line["weight"] = sample.weight
    return line


def _sharegpt(sample: DatasetSample) -> dict:
    return {
        "conversations": [{"from": SHAREGPT_FROM[m["role"]], "value": m["content"]} for m in sample.record["messages"]],
        "task_type": sample.task_type,
    }


def _alpaca(sample: DatasetSample) -> dict | None:
    messages = sample.record["messages"]
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
    exchanges, pending_user = [], None
    for message in messages:
        if message["role"] == "user":
            pending_user = message["content"] if pending_user is None else f"{pending_user}\n\n{message['content']}"
        elif message["role"] == "assistant":
            exchanges.append([pending_user or "", message["content"]])
            pending_user = None
    if not exchanges:
        return None
    *history, (instruction, output) = exchanges
    line = {
        "instruction": instruction,
        "input": "",
        "output": output,
        "history": history,
        "task_type": sample.task_type,
    }
    if system:
        line["system"] = system
    return line


def _trl(sample: DatasetSample) -> dict:
    record = sample.record
    return {
        "prompt": record["prompt"],
        "chosen": [{"role": "assistant", "content": record["chosen"]}],
        "rejected": [{"role": "assistant", "content": record["rejected"]}],
    }


def _openrlhf(sample: DatasetSample) -> dict:
    record = sample.record
    return {
        "chosen": [*record["prompt"], {"role": "assistant", "content": record["chosen"]}],
        "rejected": [*record["prompt"], {"role": "assistant", "content": record["rejected"]}],
    }


def _lineage(sample: DatasetSample) -> dict:
    return {
        "position": sample.position,
        "split": sample.split,
        "kind": sample.kind,
        "task_type": sample.task_type,
        "source": sample.source,
        "sample_hash": sample.sample_hash,
        "weight": sample.weight,
        "pseudo_multi_turn": sample.pseudo_multi_turn,
        "reviewed": sample.reviewed,
        "tokens": sample.token_count,
        "lineage": sample.lineage,
    }


# name -> (kind of sample it takes or None for every kind, converter, title)
FORMATS: dict[str, tuple[str | None, Callable[[DatasetSample], dict | None], str]] = {
    "openai": ("sft", _openai, "OpenAI messages with train flags (what training/ reads)"),
    "sharegpt": ("sft", _sharegpt, "ShareGPT"),
    "alpaca": ("sft", _alpaca, "Alpaca with history"),
    "trl": ("pair", _trl, "Preference pairs, TRL conversational"),
    "openrlhf": ("pair", _openrlhf, "Preference pairs, OpenRLHF chosen/rejected"),
    "lineage": (None, _lineage, "Lineage of every sample"),
}
SPLITS = ("train", "eval", "all")


def export_check(format_name: str, split: str) -> None:
    if format_name not in FORMATS:
        raise ValueError(
            Text("unknown export format %(name)r; use one of %(names)s", name=format_name, names=", ".join(FORMATS))
        )
    if split not in SPLITS:
        raise ValueError(Text("unknown split %(name)r; use one of %(names)s", name=split, names=", ".join(SPLITS)))


def export_lines(*, version: DatasetVersion, format_name: str, split: str = "train") -> Iterator[str]:
    """The version's samples in that format and split, in position order, a line each; read
    by key a page at a time so that memory stays flat whatever the version's size."""
    export_check(format_name, split)
    kind, convert, _ = FORMATS[format_name]
    rows = DatasetSample.objects.filter(version=version)
    if kind is not None:
        rows = rows.filter(kind=kind)
    if split != "all":
        rows = rows.filter(split=split)
    after = -1
    while True:
        page = list(rows.filter(position__gt=after).order_by("position")[:PAGE])
        if not page:
            return
        after = page[-1].position
        for sample in page:
            line = convert(sample)
            if line is not None:
                yield json.dumps(line, ensure_ascii=False) + "\n"


def export_filename(*, version: DatasetVersion, format_name: str, split: str) -> str:
    return f"dataset-v{version.id}-{version.short_hash}-{format_name}-{split}.jsonl"
