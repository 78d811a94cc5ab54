"""A version's manifest: what is in it (counts per task type, source and split), how long it is
(token statistics), how to check it (hashes) and where it came from (lineage summary: sources,
sessions, messages, review items, and the cleaning rule, scrubber, label and prompt versions).
Per-sample hashes and lineage are on the sample rows and in the `lineage` export."""

from __future__ import annotations

from collections import Counter, defaultdict

from flywheel.datasets.builder import BUILDER_VERSION, REPLAY_SOURCE, BuildOutcome, canonical_json, sha256_hex
from flywheel.datasets.tokens import length_stats


def _count_by(samples, key) -> dict:
    counts = Counter(key(s) for s in samples)
    return {name: counts[name] for name in sorted(counts)}


def manifest_build(outcome: BuildOutcome, *, config: dict, token_method: str, replay_file: dict | None) -> dict:
    samples = outcome.samples
    sft = [s for s in samples if s.kind == "sft"]
    pairs = [s for s in samples if s.kind == "pair"]
    by_task_type: dict[str, dict[str, int]] = defaultdict(
        lambda: {"train": 0, "eval": 0, "pairs_train": 0, "pairs_eval": 0}
    )
    for sample in samples:
        column = sample.split if sample.kind == "sft" else f"pairs_{sample.split}"
        by_task_type[sample.task_type][column] += 1
    tokens: dict = {"method": token_method}
    for split in ("train", "eval"):
        tokens[split] = length_stats([s.token_count for s in sft if s.split == split])
    tokens["pairs"] = length_stats([s.token_count for s in pairs])
    tokens["by_task_type"] = {
        task_type: length_stats([s.token_count for s in sft if s.task_type == task_type])
        for task_type in sorted({s.task_type for s in sft})
    }
    versions: dict[str, set] = defaultdict(set)
    message_ids, session_ids, review_items = set(), set(), set()
    for sample in samples:
        for key, values in (sample.versions or {}).items():
            versions[key].update(v for v in values if v not in (None, ""))
        message_ids.update(sample.lineage.get("message_ids", []))
        session_ids.update(sample.lineage.get("session_ids", []))
        if sample.session_id is not None:
            session_ids.add(sample.session_id)
        review_items.update(sample.lineage.get("review_item_ids", []))
    supervised_turns = sum(sum(1 for m in s.record["messages"] if m.get("train")) for s in sft)
    return {
        "builder_version": BUILDER_VERSION,
        "counts": {
            "samples": len(samples),
            "sft": len(sft),
            "pairs": len(pairs),
            "train": sum(1 for s in sft if s.split == "train"),
            "eval": sum(1 for s in sft if s.split == "eval"),
            "pairs_train": sum(1 for s in pairs if s.split == "train"),
            "pairs_eval": sum(1 for s in pairs if s.split == "eval"),
            "by_task_type": {name: by_task_type[name] for name in sorted(by_task_type)},
            "by_source": _count_by(samples, lambda s: s.source),
            "pseudo_multi_turn": sum(1 for s in sft if s.pseudo_multi_turn),
            "replay": sum(1 for s in sft if s.source == REPLAY_SOURCE),
            "reviewed": sum(1 for s in samples if s.reviewed),
            "weighted": sum(1 for s in samples if s.weight != 1.0),
            "supervised_turns": supervised_turns,
        },
        "excluded": {reason: outcome.excluded[reason] for reason in sorted(outcome.excluded)},
        "curation": outcome.curation,
        "tokens": tokens,
        "hashes": {
            "content_hash": outcome.content_hash,
            "config_hash": outcome.config_hash,
            # Order-sensitive digest of the samples' own hashes: two exports can be checked
            # against it without the database.
            "samples_digest": sha256_hex(canonical_json([s.sample_hash for s in samples])),
            "algorithm": "sha256 over canonical JSON (sorted keys, UTF-8, no spaces)",
        },
        "lineage": {
            "sources": _count_by(samples, lambda s: s.source),
            "sessions": len(session_ids),
            "messages": len(message_ids),
            "review_items": len(review_items),
            "versions": {key: sorted(values) for key, values in sorted(versions.items())},
            "replay_file": replay_file,
        },
        "config": config,
    }
