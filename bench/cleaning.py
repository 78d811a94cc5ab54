"""Cleaning throughput on one core, and near-duplicate detection against datasketch, in one run.

1. Rule set: the full default rule set (fixes, checks, language ID, PII scrubbing) over real
   chat turns — hh-rlhf (English) and KdConv (Chinese) from ../shared/datasets when present,
   plus the demo generator's sessions — in this one process. Prints messages/s/core beside
   Data-Juicer's published ~1,400 samples/s/core.
2. Near-duplicates: Flywheel's batched numpy MinHash + LSH (16 bands x 4 rows, verified on 128
   permutations) against datasketch's MinHash + MinHashLSH (128 permutations, same threshold),
   on the same texts and the same shingles, both run incrementally (query, then insert). Prints
   docs/s of each, their ratio, text-dedup's published ~1,500 docs/s/process, and precision
   and recall of both against exact all-pairs Jaccard on a subset.

Run: `python bench/cleaning.py [--prompts 20000] [--subset 2500]`. No database needed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = REPO.parent / "shared" / "datasets"

DATA_JUICER_SAMPLES_PER_S_PER_CORE = 1400
TEXT_DEDUP_DOCS_PER_S_PER_PROCESS = 1500


def load_sources() -> dict[str, list[list[tuple[str, str, bool]]]]:
    """Sessions as (role, text, is_alternative) turns, per source."""
    from flywheel.demo.generator import generate_demo

    sources: dict[str, list] = {}
    hh = DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz"
    if hh.exists():
        from flywheel.ingest.formats import convert_hh_rlhf

        with gzip.open(hh, "rb") as handle:
            sources["hh-rlhf (en)"] = [
                [(m["role"], m["content"], "alternative_to" in m) for m in convert_hh_rlhf(json.loads(line), line)["sessions"][0]["messages"]]
                for line in handle
            ]
    kdconv = []
    for name in ("kdconv-film-dev.json.gz", "kdconv-music-dev.json.gz"):
        path = DATASETS / name
        if path.exists():
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                kdconv += [[("user" if i % 2 == 0 else "assistant", u["message"], False) for i, u in enumerate(c["messages"])]
                           for c in json.load(handle)]
    if kdconv:
        sources["KdConv (zh)"] = kdconv
    demo = generate_demo(seed=3, sessions=2000)
    sources["demo (zh+en)"] = [[(m["role"], m["content"], False) for m in s["messages"]]
                               for batch in demo.batches for s in batch["sessions"]]
    return sources


def bench_rules(sessions) -> dict:
    from flywheel.cleaning.ruleset import MessageInput, evaluate_session, ruleset_from_overrides

    ruleset = ruleset_from_overrides({})
    inputs = [[MessageInput(i, role, text, alt) for i, (role, text, alt) in enumerate(s)] for s in sessions]
    for session in inputs[:200]:  # load lingua's models and compile patterns before timing
        evaluate_session(session, ruleset)
    messages = sum(len(s) for s in inputs)
    chars = sum(len(m.content) for s in inputs for m in s)
    start = time.process_time()
    for session in inputs:
        evaluate_session(session, ruleset)
    seconds = time.process_time() - start
    return {"messages": messages, "mean_chars": chars / messages, "seconds": seconds, "per_s": messages / seconds}


def near_duplicate_texts(sessions, count: int) -> list[str]:
    """Distinct user prompts, plus a tenth of them copied with a small edit (the
    near-duplicates to find)."""
    rng = random.Random(9)
    prompts = list(dict.fromkeys(text for s in sessions for role, text, alt in s
                                 if role == "user" and not alt and text.strip()))
    rng.shuffle(prompts)
    prompts = prompts[:count]
    edited = []
    for text in rng.sample(prompts, len(prompts) // 10):
        edit = rng.choice([lambda t: "Please, " + t, lambda t: t + " Thanks!", lambda t: "请问" + t, lambda t: t + "谢谢！"])
        edited.append(edit(text))
    texts = prompts + edited
    rng.shuffle(texts)
    return texts


def shingle_sets(texts):
    """The shingles both detectors see: Flywheel's tokens (CJK characters, words), n=2."""
    from flywheel.cleaning.dedup import SHINGLE_SIZES
    from flywheel.cleaning.text import tokens

    n = SHINGLE_SIZES["prompt"][0]
    sets = []
    for text in texts:
        toks = tokens(text)
        sets.append({" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1)} if len(toks) > n else {" ".join(toks)})
    return sets


def bench_flywheel(texts, threshold) -> tuple[float, list[bool]]:
    from flywheel.cleaning.dedup import NearDuplicateIndex, fingerprints, prepare_text

    start = time.process_time()
    prepared = [prepare_text(t) for t in texts]
    keep = [i for i, p in enumerate(prepared) if p is not None]
    prints = fingerprints([prepared[i] for i in keep], scope="prompt")
    index = NearDuplicateIndex(threshold)
    duplicate = [False] * len(texts)
    for i, fp in zip(keep, prints):
        duplicate[i] = index.match_or_add(i, fp) is not None
    return time.process_time() - start, duplicate


def bench_datasketch(texts, threshold) -> tuple[float, list[bool]]:
    from datasketch import MinHash, MinHashLSH

    start = time.process_time()
    sets = shingle_sets(texts)  # shingling is part of the work, as it is for Flywheel
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    duplicate = []
    for i, shingles in enumerate(sets):
        minhash = MinHash(num_perm=128)
        minhash.update_batch([s.encode("utf-8") for s in shingles])
        found = lsh.query(minhash)
        duplicate.append(bool(found))
        if not found:
            lsh.insert(str(i), minhash)
    return time.process_time() - start, duplicate


def exact_truth(texts, threshold) -> list[bool]:
    """All pairs, exact Jaccard: is each text a duplicate of an earlier one?"""
    sets = shingle_sets(texts)
    truth = []
    for i, current in enumerate(sets):
        truth.append(any(len(current & sets[j]) / len(current | sets[j]) >= threshold for j in range(i) if sets[j]))
    return truth


def precision_recall(predicted, truth) -> tuple[float, float]:
    tp = sum(p and t for p, t in zip(predicted, truth))
    return tp / max(1, sum(predicted)), tp / max(1, sum(truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=20000, help="at most this many distinct prompts for the near-duplicate run")
    parser.add_argument("--subset", type=int, default=2500, help="texts checked against exact all-pairs Jaccard")
    args = parser.parse_args()
    from flywheel.cleaning.conf import DEDUP_THRESHOLD

    sources = load_sources()
    if not DATASETS.exists():
        print("(../shared/datasets not found: demo data only)")
    everything = [s for sessions in sources.values() for s in sessions]
    print("rule set (fixes, checks, language ID, PII scrubbing), one process:")
    for name, sessions in list(sources.items()) + [("all together", everything)]:
        rules = bench_rules(sessions)
        print(f"  {name:14s} {rules['messages']:6d} messages, {rules['mean_chars']:4.0f} chars avg: "
              f"{rules['per_s']:7,.0f} messages/s/core  -> {rules['per_s'] / DATA_JUICER_SAMPLES_PER_S_PER_CORE:.2f}x "
              f"Data-Juicer's published ~{DATA_JUICER_SAMPLES_PER_S_PER_CORE:,} samples/s/core")

    texts = near_duplicate_texts(everything, args.prompts)
    ours_s, ours = bench_flywheel(texts, DEDUP_THRESHOLD)
    theirs_s, theirs = bench_datasketch(texts, DEDUP_THRESHOLD)
    print(f"near-duplicates: {len(texts)} prompts (distinct, plus a tenth planted with small edits), "
          f"threshold {DEDUP_THRESHOLD}, one process:")
    print(f"  Flywheel MinHash+LSH:   {len(texts) / ours_s:8,.0f} docs/s ({ours_s:.2f} s CPU), {sum(ours)} duplicates")
    print(f"  datasketch MinHashLSH:  {len(texts) / theirs_s:8,.0f} docs/s ({theirs_s:.2f} s CPU), {sum(theirs)} duplicates")
    print(f"  ratio Flywheel / datasketch: {theirs_s / ours_s:.1f}x;  Flywheel / text-dedup's published "
          f"~{TEXT_DEDUP_DOCS_PER_S_PER_PROCESS:,} docs/s/process: {len(texts) / ours_s / TEXT_DEDUP_DOCS_PER_S_PER_PROCESS:.1f}x")
    subset = texts[:args.subset]
    truth = exact_truth(subset, DEDUP_THRESHOLD)
    for name, predicted in (("Flywheel", bench_flywheel(subset, DEDUP_THRESHOLD)[1]),
                            ("datasketch", bench_datasketch(subset, DEDUP_THRESHOLD)[1])):
        precision, recall = precision_recall(predicted, truth)
        print(f"  {name:10s} vs exact all-pairs Jaccard on {len(subset)} texts ({sum(truth)} true duplicates): "
              f"precision {precision:.3f}, recall {recall:.3f}")


if __name__ == "__main__":
    main()
