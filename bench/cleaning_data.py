"""The data bench/cleaning.py hands to Flywheel and to every peer: real chat text with planted
near-duplicates whose truth is known, written once to files that everybody reads.

- Sources: hh-rlhf (English), KdConv (Chinese), CrossWOZ (Chinese) and TIAGE (English) from
  ../shared/datasets. The product never reads these files; without them the benchmark stops
  with a message.
- Truth. The reference similarity is the exact Jaccard of shingle sets over Flywheel's
  tokens (one per CJK character, one per word): 2-grams for messages, 3-grams over the
  role-marked token stream for sessions. Real texts are first thinned so that no two of them
  reach 0.5 (checked over candidates from a loose LSH); then a tenth of them get a copy with
  a small edit (a greeting, a thank-you, a typo, a dropped word, a dropped or added turn, or
  an identical re-upload) that stays at 0.8 or above. So every flagged pair is either a
  planted one (right) or below 0.5 (wrong), with nothing in between to argue about.
- Every detector sees the same texts; peers that cannot tokenise Chinese get the same token
  stream Flywheel computes (tokens separated by spaces).
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.cleaning.text import tokens

CLEAN_BELOW = 0.5  # real texts kept only when no two reach this reference Jaccard
PLANT_AT_LEAST = 0.8  # planted copies keep at least this reference Jaccard to their original
PLANT_SHARE = 0.1

Turn = tuple[str, str, bool]  # role, text, is an alternative answer


def load_sources(datasets: Path) -> dict[str, list[list[Turn]]]:
    """Real sessions per source; empty when ../shared/datasets is absent."""
    from flywheel.ingest.formats import RecordError, convert_hh_rlhf

    sources: dict[str, list[list[Turn]]] = {}
    hh = datasets / "hh-rlhf-harmless-base-test.jsonl.gz"
    if hh.exists():
        sessions = []
        with gzip.open(hh, "rb") as handle:
            for line in handle:
                try:
                    messages = convert_hh_rlhf(json.loads(line), line)["sessions"][0]["messages"]
                except RecordError:
                    continue
                sessions.append([(m["role"], m["content"], "alternative_to" in m) for m in messages])
        sources["hh-rlhf (en)"] = sessions
    kdconv = []
    for name in ("kdconv-film-dev.json.gz", "kdconv-music-dev.json.gz", "kdconv-travel-dev.json.gz"):
        if (datasets / name).exists():
            with gzip.open(datasets / name, "rt", encoding="utf-8") as handle:
                kdconv += [
                    [(_alternate(i), u["message"], False) for i, u in enumerate(c["messages"])]
                    for c in json.load(handle)
                ]
    if kdconv:
        sources["KdConv (zh)"] = kdconv
    if (datasets / "crosswoz-val.json.gz").exists():
        with gzip.open(datasets / "crosswoz-val.json.gz", "rt", encoding="utf-8") as handle:
            sources["CrossWOZ (zh)"] = [
                [("user" if m["role"] == "usr" else "assistant", m["content"], False) for m in d["messages"]]
                for d in json.load(handle).values()
            ]
    tiage = []
    for name in ("tiage-train.json.gz", "tiage-dev.json.gz"):
        if (datasets / name).exists():
            with gzip.open(datasets / name, "rt", encoding="utf-8") as handle:
                tiage += [[(_alternate(i), u[0], False) for i, u in enumerate(c)] for c in json.load(handle).values()]
    if tiage:
        sources["TIAGE (en)"] = tiage
    return sources


def _alternate(index: int) -> str:
    return "user" if index % 2 == 0 else "assistant"


# --- reference similarity -----------------------------------------------------------------------


def session_stream(turns: list[tuple[str, str]]) -> list[str]:
    """A session as one token list, each turn introduced by its role (as Flywheel marks it)."""
    out: list[str] = []
    for role, text in turns:
        out.append(f"<{role}>")
        out.extend(tokens(text))
    return out


def shingles(toks: list[str], n: int) -> set[str]:
    if len(toks) <= n:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _thin(shingle_sets: list[set[str]]) -> list[int]:
    """Indices of a subset in which no two sets reach CLEAN_BELOW (exact Jaccard, checked on
    candidates from a loose datasketch LSH: preparing the data, not part of any timing)."""
    from datasketch import MinHash, MinHashLSH

    signatures = MinHash.bulk([[s.encode("utf-8") for s in sets] for sets in shingle_sets], num_perm=128)
    lsh = MinHashLSH(threshold=0.3, num_perm=128)
    kept = []
    for i, (sets, signature) in enumerate(zip(shingle_sets, signatures)):
        if not sets or any(jaccard(sets, shingle_sets[j]) >= CLEAN_BELOW for j in lsh.query(signature)):
            continue
        lsh.insert(i, signature)
        kept.append(i)
    return kept


# --- workloads ------------------------------------------------------------------------------------


@dataclass
class DedupWorkload:
    """Items in the order detectors see them, and the planted groups (an original and its copy)."""

    name: str
    scope: str  # Flywheel's scope: "prompt" or "session"
    n: int  # shingle size of the reference (and of every detector)
    items: list  # str (messages) or list[(role, text)] (sessions)
    streams: list[str] = field(default_factory=list)  # the token stream handed to peers
    groups: list[tuple[int, int]] = field(default_factory=list)
    planted_jaccard: list[float] = field(default_factory=list)

    @property
    def planted(self) -> int:
        return len(self.groups)


_PREFIXES_EN, _PREFIXES_ZH = ["Please, ", "Hi! ", "Quick question: "], ["请问", "你好，", "麻烦问下，"]
_SUFFIXES_EN, _SUFFIXES_ZH = [" Thanks!", " Thank you.", " please"], ["谢谢！", "，谢谢", "呢？"]


def _is_zh(text: str) -> bool:
    toks = tokens(text)
    return sum(1 for t in toks if len(t) == 1 and ord(t) > 0x2E80) * 2 >= len(toks)


def _edit_text(text: str, rng: random.Random) -> str:
    zh = _is_zh(text)
    kind = rng.choice(["prefix", "suffix", "typo", "drop", "case"])
    if kind == "prefix":
        return rng.choice(_PREFIXES_ZH if zh else _PREFIXES_EN) + text
    if kind == "suffix":
        return text.rstrip() + rng.choice(_SUFFIXES_ZH if zh else _SUFFIXES_EN)
    if kind == "case":  # identical once normalised: an exact duplicate
        return text.upper() + "!!" if not zh else text + "？？"
    words = text.split(" ") if not zh else list(text)
    if len(words) < 3:
        return text + (" ok" if not zh else "吧")
    at = rng.randrange(1, len(words) - 1)
    if kind == "typo":
        words[at] = (words[at][:-1] + "x") if not zh else "的"
    else:
        del words[at]
    return (" " if not zh else "").join(words)


def _edit_session(turns: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str]]:
    turns = list(turns)
    kind = rng.choice(["turn", "turn", "drop_last", "append", "same"])
    if kind == "same" or not turns:
        return turns  # an identical re-upload
    if kind == "drop_last" and len(turns) >= 4:
        return turns[:-1]
    if kind == "append":
        zh = _is_zh(turns[0][1])
        return turns + [("user", "谢谢你的回答！" if zh else "Thanks, that helps a lot!")]
    at = rng.randrange(len(turns))
    turns[at] = (turns[at][0], _edit_text(turns[at][1], rng))
    return turns


def _plant(
    workload: DedupWorkload, base: list, shingle_sets: list[set[str]], edit, rng: random.Random, make_sets
) -> None:
    """Append an edited copy of about PLANT_SHARE of the base items (those that stay at or above
    PLANT_AT_LEAST), then shuffle everything, keeping track of the groups."""
    items = list(base)
    groups, similarities = [], []
    for original in rng.sample(range(len(base)), len(base)):
        if len(groups) >= PLANT_SHARE * len(base):
            break
        for _ in range(4):
            copy = edit(base[original], rng)
            similarity = jaccard(shingle_sets[original], make_sets(copy))
            if similarity >= PLANT_AT_LEAST:
                groups.append((original, len(items)))
                similarities.append(similarity)
                items.append(copy)
                break
    order = list(range(len(items)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    workload.items = [items[old] for old in order]
    workload.groups = [(position[a], position[b]) for a, b in groups]
    workload.planted_jaccard = similarities


def message_workload(sources: dict, limit: int, seed: int = 9) -> DedupWorkload:
    """Distinct user prompts from every source, thinned, plus planted near-duplicates."""
    rng = random.Random(seed)
    seen, prompts = set(), []
    for sessions in sources.values():
        for session in sessions:
            for role, text, alternative in session:
                key = "\x1f".join(tokens(text))
                if role == "user" and not alternative and key and key not in seen:
                    seen.add(key)
                    prompts.append(text)
    rng.shuffle(prompts)
    prompts = prompts[:limit]
    sets = [shingles(tokens(t), 2) for t in prompts]
    kept = _thin(sets)
    base, sets = [prompts[i] for i in kept], [sets[i] for i in kept]
    workload = DedupWorkload(name="messages", scope="prompt", n=2, items=[])
    _plant(workload, base, sets, _edit_text, rng, lambda text: shingles(tokens(text), 2))
    workload.streams = [" ".join(tokens(text)) for text in workload.items]
    return workload


def session_workload(sources: dict, limit: int, seed: int = 11) -> DedupWorkload:
    """Whole sessions (transcript turns, alternatives left out), thinned, plus planted copies."""
    rng = random.Random(seed)
    sessions = [
        [(role, text) for role, text, alternative in s if not alternative and text.strip()]
        for group in sources.values()
        for s in group
    ]
    sessions = [s for s in sessions if s]
    rng.shuffle(sessions)
    sessions = sessions[:limit]
    sets = [shingles(session_stream(s), 3) for s in sessions]
    kept = _thin(sets)
    base, sets = [sessions[i] for i in kept], [sets[i] for i in kept]
    workload = DedupWorkload(name="sessions", scope="session", n=3, items=[])
    _plant(workload, base, sets, _edit_session, rng, lambda turns: shingles(session_stream(turns), 3))
    workload.streams = [" ".join(t.strip("<>") for t in session_stream(turns)) for turns in workload.items]
    return workload


def rule_messages(sources: dict, limit: int, seed: int = 5) -> list[list[Turn]]:
    """Whole sessions (every turn, alternatives included) up to about `limit` messages, drawn
    from every source in turn so each language is represented."""
    rng = random.Random(seed)
    pools = [rng.sample(sessions, len(sessions)) for sessions in sources.values()]
    chosen, count = [], 0
    while count < limit and any(pools):
        for pool in pools:
            if pool and count < limit:
                session = pool.pop()
                chosen.append(session)
                count += len(session)
    return chosen


def score(removed: set[int], groups: list[tuple[int, int]]) -> tuple[float, float]:
    """Precision and recall of a detector's removals against the planted groups: in each group
    one item must stay and the other go; any removal outside a group is a false alarm."""
    true_positives = sum(min(len(removed & {a, b}), 1) for a, b in groups)
    return true_positives / max(1, len(removed)), true_positives / max(1, len(groups))


def write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
