"""The dataset builder's core: candidates in, the ordered samples of a version and its content
hash out. Pure functions over plain data (no database), so every step is deterministic and
testable on its own.

    filter -> supervise -> canonicalise + hash -> deduplicate -> exclude earlier versions
    -> mix by task type -> cap -> split (stratified) -> pseudo multi-turn -> replay -> order

Every choice is made by sorting on a seeded hash of the sample's content hash, never by
iteration order or a random generator, so the same inputs always give the same version.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flywheel.datasets.config import BuildConfig
from flywheel.datasets.curate import apply_diversity, apply_ifd, apply_necessity, apply_quality
from flywheel.datasets.sources import Candidate

BUILDER_VERSION = 1
UNLABELED = "unlabeled"
REPLAY_TASK_TYPE = "general"
REPLAY_SOURCE = "replay"
PSEUDO_SOURCE = "pseudo_multi_turn"
NEVER_SUPERVISED = ("bad", "unticked", "context")


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seeded_key(seed: int, purpose: str, sample_hash: str) -> str:
    return sha256_hex(f"{seed}:{purpose}:{sample_hash}")


@dataclass
class BuiltSample:
    kind: str
    record: dict
    sample_hash: str
    task_type: str
    source: str
    weight: float = 1.0
    pseudo_multi_turn: bool = False
    reviewed: bool = False
    split: str = "train"
    token_count: int = 0
    session_id: int | None = None
    lineage: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)


@dataclass
class BuildOutcome:
    samples: list[BuiltSample]
    excluded: Counter
    content_hash: str
    config_hash: str
    curation: dict = field(default_factory=dict)
    """What the curation steps did (flywheel/datasets/curate.py), for the manifest."""
    necessity_missing: dict = field(default_factory=dict)
    """{prompt hash: prompt} the necessity stage needs scored before the build can finish."""


# --- supervision and canonical records --------------------------------------------------------


def supervised_messages(messages: list[dict], mode: str) -> list[dict] | None:
    """The conversation with a `train` flag on each assistant message, cut after the last
    supervised one (the trainer drops what follows anyway); None when nothing is supervised.
    Answers known to be bad, unticked by a reviewer, or given only as context are never
    supervised, whatever the mode."""
    assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    usable = [i for i in assistant if messages[i].get("mark") not in NEVER_SUPERVISED]
    if mode == "all":
        trained = set(usable)
    elif mode == "last":
        trained = set(usable[-1:])
    elif mode == "reviewed":
        trained = {i for i in usable if messages[i].get("mark") == "ticked"}
    else:
        raise ValueError(f"unknown supervision mode {mode!r}")
    if not trained:
        return None
    out = []
    for index, message in enumerate(messages[: max(trained) + 1]):
        entry = {"role": message["role"], "content": message["content"]}
        if message["role"] == "assistant":
            entry["train"] = index in trained
        out.append(entry)
    return out


def sft_record(messages: list[dict]) -> dict:
    return {"messages": messages}


def pair_record(prompt: list[dict], chosen: str, rejected: str) -> dict:
    return {
        "prompt": [{"role": m["role"], "content": m["content"]} for m in prompt],
        "chosen": chosen,
        "rejected": rejected,
    }


def record_hash(kind: str, record: dict) -> str:
    return sha256_hex(canonical_json({"kind": kind, **record}))


# --- filtering --------------------------------------------------------------------------------


def exclusion_reason(candidate: Candidate, config: BuildConfig) -> str | None:
    """Why a candidate is left out by the config's filters, or None."""
    if candidate.blocked_reason:
        return candidate.blocked_reason
    if candidate.cleaning_status and candidate.cleaning_status not in config.cleaning_statuses:
        return f"cleaning_{candidate.cleaning_status}"
    task_type = candidate.task_type or UNLABELED
    if task_type == UNLABELED and not config.include_unlabeled:
        return "unlabeled"
    if config.task_types and task_type not in config.task_types:
        return "task_type_not_chosen"
    if config.min_quality is not None and candidate.quality is not None and candidate.quality < config.min_quality:
        return "quality_below_minimum"
    if config.reviewed_only and not candidate.reviewed:
        return "not_reviewed"
    if config.usable_only and candidate.usable is False:
        return "labeled_unusable"
    if config.trusted_labels_only and not candidate.trusted_label:
        return "label_not_trusted"
    if config.continuity == "drop_switched" and candidate.topic_switched:
        return "topic_switched"
    return None


def built_from_candidate(candidate: Candidate, config: BuildConfig) -> BuiltSample | None:
    if candidate.kind == "pair":
        if not candidate.chosen.strip() or not candidate.rejected.strip() or candidate.chosen == candidate.rejected:
            return None
        record = pair_record(candidate.prompt, candidate.chosen, candidate.rejected)
    else:
        messages = supervised_messages(candidate.messages, config.supervision)
        if messages is None:
            return None
        record = sft_record(messages)
    return BuiltSample(
        kind=candidate.kind,
        record=record,
        sample_hash=record_hash(candidate.kind, record),
        task_type=candidate.task_type or UNLABELED,
        source=candidate.source,
        reviewed=candidate.reviewed,
        pseudo_multi_turn=candidate.pseudo_multi_turn,
        session_id=candidate.session_id,
        lineage={"source": candidate.source, "source_id": candidate.source_id, **candidate.lineage},
        versions=candidate.versions,
    )


# --- mixing, capping, splitting ---------------------------------------------------------------


def _by_task_type(samples: list[BuiltSample]) -> dict[str, list[BuiltSample]]:
    groups: dict[str, list[BuiltSample]] = defaultdict(list)
    for sample in samples:
        groups[sample.task_type].append(sample)
    return groups


def _seeded(samples: list[BuiltSample], seed: int, purpose: str) -> list[BuiltSample]:
    return sorted(samples, key=lambda s: seeded_key(seed, purpose, s.sample_hash))


def mix_by_task_type(samples: list[BuiltSample], config: BuildConfig, excluded: Counter) -> list[BuiltSample]:
    kept = []
    for task_type, group in sorted(_by_task_type(samples).items()):
        weight = config.mix.get(task_type, 1.0)
        if weight >= 1.0:
            for sample in group:
                sample.weight = weight
            kept.extend(group)
            continue
        keep = round(len(group) * weight)
        chosen = _seeded(group, config.seed, f"mix:{task_type}")[:keep]
        excluded["mix_subsampled"] += len(group) - keep
        kept.extend(chosen)
    return kept


def cap_evenly(samples: list[BuiltSample], cap: int | None, seed: int, excluded: Counter) -> list[BuiltSample]:
    """At most `cap` samples, each task type keeping the same share of its own."""
    if cap is None or len(samples) <= cap:
        return samples
    groups = sorted(_by_task_type(samples).items())
    quotas = {task_type: len(group) * cap / len(samples) for task_type, group in groups}
    counts = {task_type: math.floor(quota) for task_type, quota in quotas.items()}
    # Largest remainders first (ties by name) hand out what flooring left over.
    leftovers = sorted(quotas, key=lambda t: (-(quotas[t] - counts[t]), t))
    for task_type in leftovers[: cap - sum(counts.values())]:
        counts[task_type] += 1
    kept = []
    for task_type, group in groups:
        kept.extend(_seeded(group, seed, f"cap:{task_type}")[: counts[task_type]])
    excluded["over_max_samples"] += len(samples) - len(kept)
    return kept


def split_stratified(samples: list[BuiltSample], eval_fraction: float, seed: int) -> None:
    """Hold out `eval_fraction` of each (kind, task type) for evaluation, at least one train
    sample per group; a seeded choice."""
    groups: dict[tuple[str, str], list[BuiltSample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.kind, sample.task_type)].append(sample)
    for (kind, task_type), group in groups.items():
        n_eval = min(len(group) - 1, round(len(group) * eval_fraction)) if eval_fraction else 0
        for index, sample in enumerate(_seeded(group, seed, f"split:{kind}:{task_type}")):
            sample.split = "eval" if index < n_eval else "train"


# --- pseudo multi-turn and replay -------------------------------------------------------------


def _single_exchange(sample: BuiltSample) -> bool:
    roles = [m["role"] for m in sample.record["messages"]]
    if roles and roles[0] == "system":
        roles = roles[1:]
    return roles == ["user", "assistant"] and sample.record["messages"][-1].get("train") is True


def _needed(share: float, others: int) -> int:
    return round(share * others / (1 - share)) if share else 0


def pseudo_multi_turn(samples: list[BuiltSample], config: BuildConfig, split: str) -> list[BuiltSample]:
    """Join single exchanges of different sessions into conversations of two or three
    exchanges, so that `pseudo_multi_turn_share` of the split's SFT conversations are such
    (sources may also supply their own; those count towards the share)."""
    sft = [s for s in samples if s.kind == "sft" and s.split == split]
    existing = sum(1 for s in sft if s.pseudo_multi_turn)
    wanted = _needed(config.pseudo_multi_turn_share, len(sft) - existing) - existing
    singles = _seeded(
        [s for s in sft if not s.pseudo_multi_turn and _single_exchange(s)], config.seed, f"pseudo:{split}"
    )
    if wanted <= 0 or len(singles) < 2:
        return []
    seen = {s.sample_hash for s in samples}
    made, cursor = [], 0
    for index in range(wanted * 3):  # bounded: duplicates of earlier combinations are skipped
        if len(made) == wanted:
            break
        size = 2 + index % 2 if len(singles) >= 3 else 2
        parts = [singles[(cursor + k) % len(singles)] for k in range(size)]
        cursor += size
        messages = []
        for number, part in enumerate(parts):
            for message in part.record["messages"]:
                if message["role"] == "system" and number > 0:
                    continue  # one system prompt, the first conversation's
                messages.append(dict(message))
        record = sft_record(messages)
        sample_hash = record_hash("sft", record)
        if sample_hash in seen:
            continue
        seen.add(sample_hash)
        versions: dict[str, set] = defaultdict(set)
        for part in parts:
            for key, values in part.versions.items():
                versions[key].update(values)
        made.append(
            BuiltSample(
                kind="sft",
                record=record,
                sample_hash=sample_hash,
                task_type=parts[-1].task_type,
                source=PSEUDO_SOURCE,
                pseudo_multi_turn=True,
                reviewed=all(p.reviewed for p in parts),
                split=split,
                lineage={
                    "source": PSEUDO_SOURCE,
                    "parts": [p.sample_hash for p in parts],
                    "message_ids": [i for p in parts for i in p.lineage.get("message_ids", [])],
                    "session_ids": [p.session_id for p in parts if p.session_id is not None],
                },
                versions={key: sorted(values) for key, values in versions.items()},
            )
        )
    return made


def replay_samples(
    records: list[dict], config: BuildConfig, domain_sft: int, seen: set[str], excluded: Counter
) -> list[BuiltSample]:
    """`replay_share` of the SFT conversations from the replay file, a seeded choice, split like
    the rest. Records: {"messages", "task_type"?, "line"} already read and checked."""
    wanted = _needed(config.replay_share, domain_sft)
    pool = []
    for record in records:
        # General data has no reviewers: every answer is trained unless the file says otherwise.
        messages = supervised_messages(record["messages"], "all")
        if messages is None:
            excluded["replay_unsupervised"] += 1
            continue
        canonical = sft_record(messages)
        sample_hash = record_hash("sft", canonical)
        if sample_hash in seen:
            excluded["replay_duplicate"] += 1
            continue
        seen.add(sample_hash)
        pool.append(
            BuiltSample(
                kind="sft",
                record=canonical,
                sample_hash=sample_hash,
                task_type=record.get("task_type") or REPLAY_TASK_TYPE,
                source=REPLAY_SOURCE,
                lineage={"source": REPLAY_SOURCE, "file": config.replay_file, "line": record["line"]},
                versions={"replay": [record.get("file_sha256", "")]},
            )
        )
    chosen = _seeded(pool, config.seed, "replay")[:wanted]
    split_stratified(chosen, config.eval_fraction, config.seed)
    return chosen


# --- the whole build --------------------------------------------------------------------------


def build_samples(
    candidates: Iterable[Candidate],
    config: BuildConfig,
    *,
    seen_hashes: set[str] | frozenset = frozenset(),
    replay_records: list[dict] | None = None,
    count_tokens: Callable[[BuiltSample], int] | None = None,
    ifd_scores: dict | None = None,
    embed: Callable | None = None,
    rewards: dict | None = None,
    necessity: tuple[set[str], Callable[[list[str]], dict]] | None = None,
) -> BuildOutcome:
    """`ifd_scores` ((sample_hash, message index) -> IFD), `embed` (texts -> unit vectors) and
    `necessity` (the seed's prompt hashes, and prompt hashes -> stored rewards of the seed model's
    answers) feed the curation steps when the config asks for them (flywheel/datasets/curate.py)."""
    excluded: Counter = Counter()
    curation: dict = {}
    by_hash: dict[str, BuiltSample] = {}
    ordered = sorted(candidates, key=lambda c: (c.source, c.source_id))
    for candidate in ordered:
        if (reason := exclusion_reason(candidate, config)) is not None:
            excluded[reason] += 1
            continue
        sample = built_from_candidate(candidate, config)
        if sample is None:
            excluded["nothing_supervised" if candidate.kind == "sft" else "pair_answers_missing_or_equal"] += 1
            continue
        if sample.sample_hash in by_hash:
            excluded["duplicate"] += 1
            continue
        if sample.sample_hash in seen_hashes:
            excluded["in_excluded_versions"] += 1
            continue
        by_hash[sample.sample_hash] = sample
    samples = list(by_hash.values())
    sft = mix_by_task_type([s for s in samples if s.kind == "sft"], config, excluded)
    sft = cap_evenly(sft, config.max_samples, config.seed, excluded)
    if config.quality_model:
        if rewards is None:
            raise ValueError("the build asks for a reward threshold but no rewards were given")
        sft, curation["quality"] = apply_quality(sft, config, rewards, excluded)
    if config.ifd_model:
        if ifd_scores is None:
            raise ValueError("the build asks for IFD filtering but no IFD scores were given")
        sft, curation["ifd"] = apply_ifd(sft, config, ifd_scores, excluded, rehash=record_hash)
    seed, missing = set(), {}
    if config.necessity_run is not None:
        if necessity is None:
            raise ValueError("the build asks for the necessity stage but no seed or scores were given")
        sft, seed, curation["necessity"], missing = apply_necessity(sft, config, *necessity, excluded)
    if config.diversity and not missing:
        if embed is None:
            raise ValueError("the build asks for a diversity selection but no embedding function was given")
        sft, curation["diversity"] = apply_diversity(
            sft,
            config,
            embed,
            excluded,
            order_key=lambda s: seeded_key(config.seed, "diversity", s.sample_hash),
            seed=seed,
        )
    pairs = mix_by_task_type([s for s in samples if s.kind == "pair"], config, excluded)
    everything = sft + pairs
    split_stratified(everything, config.eval_fraction, config.seed)
    for split in ("train", "eval"):
        everything += pseudo_multi_turn(everything, config, split)
    if config.replay_share and replay_records is not None:
        domain_sft = sum(1 for s in everything if s.kind == "sft")
        seen = {s.sample_hash for s in everything} | set(seen_hashes)
        everything += replay_samples(replay_records, config, domain_sft, seen, excluded)
    kind_order, split_order = {"sft": 0, "pair": 1}, {"train": 0, "eval": 1}
    everything.sort(
        key=lambda s: (kind_order[s.kind], split_order[s.split], seeded_key(config.seed, "order", s.sample_hash))
    )
    if count_tokens is not None:
        for sample in everything:
            sample.token_count = count_tokens(sample)
    config_hash = sha256_hex(canonical_json(config.as_dict()))
    content_hash = sha256_hex(
        canonical_json(
            {
                "builder": BUILDER_VERSION,
                "config": config.as_dict(),
                "samples": [[s.kind, s.split, s.task_type, s.weight, s.sample_hash] for s in everything],
            }
        )
    )
    return BuildOutcome(
        samples=everything,
        excluded=excluded,
        content_hash=content_hash,
        config_hash=config_hash,
        curation=curation,
        necessity_missing=missing,
    )
