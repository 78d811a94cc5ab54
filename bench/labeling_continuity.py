"""Offline labeling and continuity prediction throughput, against the embedding pass they both
need, in one run (the machines are shared and noisy: compare ratios, not absolute times).

Baseline: embedding every text the step reads, once, with the same model (the floor: neither
step can be faster than reading its input through the embedding model). Prints, for N sessions
(hh-rlhf and KdConv from ../shared/datasets, or synthetic ones), sessions/s of
1. the offline labeler (task type by keywords + nearest taxonomy example, heuristic quality),
2. continuity prediction (features + MLP, packaged default model),
and each one's time as a ratio of its baseline (each timing the faster of two runs).

Run: `python bench/labeling_continuity.py [--sessions 400]`. No database needed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = REPO.parent / "shared" / "datasets"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sessions(n: int) -> list[list[dict]]:
    from flywheel.continuity.public_samples import hh_rlhf_conversations, kdconv_conversations

    out = []
    if (DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz").exists():
        out += [c.messages for c in hh_rlhf_conversations(DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz", limit=n // 2)]
        out += [c.messages for c in kdconv_conversations(DATASETS / "kdconv-film-dev.json.gz")][: n - len(out)]
    while len(out) < n:  # synthetic filler when the samples are absent
        i = len(out)
        out.append([{"role": "user", "content": f"Question {i}: how do I sort a list in Python?"},
                    {"role": "assistant", "content": "Use sorted(items) or items.sort()."},
                    {"role": "user", "content": f"请问第{i}个问题：怎么计算平均数？"},
                    {"role": "assistant", "content": "把所有数加起来再除以个数。"}])
    return out[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=400)
    args = parser.parse_args()
    import django

    django.setup()
    from flywheel.continuity.classifier import TrainedClassifier
    from flywheel.continuity.engine import EMBED_MAX_CHARS, predict_conversations
    from flywheel.continuity.features import normalise
    from flywheel.continuity.services import PACKAGED_DIR
    from flywheel.labeling.offline import label_offline
    from flywheel.labeling.taxonomy import taxonomy
    from flywheel.llm.embeddings import embed_texts

    data = sessions(args.sessions)
    embed_texts(["warm up"])  # load the model outside the timings
    label_offline([{"messages": data[0], "language": ""}], taxonomy=taxonomy())  # and the taxonomy examples
    model = TrainedClassifier.load(PACKAGED_DIR)

    def best_of_two(step) -> float:
        """The faster of two runs: the first big batch also pays for warming the allocator."""
        times = []
        for _ in range(2):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        return min(times)

    # Exactly what the offline labeler embeds: the first two user turns of each session.
    requests = [" ".join([m["content"] for m in s if m["role"] == "user"][:2])[:600] for s in data]
    texts = list(dict.fromkeys(normalise(m["content"]) for s in data for m in s))
    label_baseline = best_of_two(lambda: embed_texts(requests, max_chars=600))
    labeling = best_of_two(lambda: label_offline([{"messages": s, "language": ""} for s in data], taxonomy=taxonomy()))
    continuity_baseline = best_of_two(lambda: embed_texts(texts, max_chars=EMBED_MAX_CHARS))
    continuity = best_of_two(lambda: predict_conversations(data, model))
    predictions = predict_conversations(data, model)
    turns = sum(len(p) for p in predictions)

    print(f"sessions: {len(data)}, user turns predicted: {turns}, messages embedded: {len(texts)}")
    print(f"offline labeling: {len(data) / labeling:8.1f} sessions/s  ({labeling:.1f}s; "
          f"{labeling / label_baseline:.2f}x its embedding baseline of {label_baseline:.1f}s)")
    print(f"continuity:       {len(data) / continuity:8.1f} sessions/s  ({continuity:.1f}s; "
          f"{continuity / continuity_baseline:.2f}x its embedding baseline of {continuity_baseline:.1f}s)")


if __name__ == "__main__":
    main()
