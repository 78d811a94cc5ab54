"""Dataset builder throughput: conversations per second through the whole build core (filter,
supervise, canonicalise and hash, deduplicate, mix, cap, split, pseudo multi-turn, replay,
order, token counts) against a baseline measured in the same run: only canonicalising and
hashing the same conversations, which any content-addressed build must do.

Run: `python bench/dataset_builder.py [--conversations 50000]` (no database needed).
Prints both rates and the ratio build / baseline (the share of the time the rest costs).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TASK_TYPES = ["qa", "code", "math", "writing", "chitchat", "translation", "reasoning", ""]
WORDS = (
    "the model should answer this question about python lists dictionaries sorting cooking rice eggs travel "
    "visa museum poem summary translate 你好 请问 怎么 安装 电影 推荐 数学 题目"
).split()


def candidates(n: int, seed: int = 0):
    from flywheel.datasets.sources import Candidate

    rng = random.Random(seed)
    out = []
    for index in range(n):
        messages = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            messages.append(
                {"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(5, 30))), "mark": None}
            )
            messages.append(
                {
                    "role": "assistant",
                    "content": " ".join(rng.choices(WORDS, k=rng.randint(10, 120))),
                    "mark": rng.choice([None, None, None, "bad", "ticked"]),
                }
            )
        out.append(
            Candidate(
                source="sessions",
                source_id=f"{index:012d}",
                kind="sft",
                messages=messages,
                task_type=rng.choice(TASK_TYPES),
                quality=rng.randint(1, 5),
                session_id=index,
                cleaning_status=rng.choice(["kept"] * 9 + ["flagged"]),
                lineage={"message_ids": list(range(index * 8, index * 8 + len(messages)))},
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=50_000)
    arguments = parser.parse_args()

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
    django.setup()
    from flywheel.datasets.builder import build_samples, record_hash, sft_record, supervised_messages
    from flywheel.datasets.config import build_config_from_dict
    from flywheel.datasets.tokens import TokenCounter

    pool = candidates(arguments.conversations)
    config = build_config_from_dict(
        {
            "sources": ["sessions"],
            "mix": {"code": 2, "chitchat": 0.5},
            "min_quality": 2,
            "pseudo_multi_turn_share": 0.1,
            "eval_fraction": 0.1,
            "seed": 1,
        },
        known_sources=["sessions"],
    )
    counter = TokenCounter("")

    started = time.perf_counter()
    hashes = set()
    for candidate in pool:
        messages = supervised_messages(candidate.messages, "all")
        if messages is not None:
            hashes.add(record_hash("sft", sft_record(messages)))
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    outcome = build_samples(pool, config, count_tokens=lambda s: counter.record(s.kind, s.record))
    build = time.perf_counter() - started

    n = len(pool)
    print(f"conversations: {n}, in the version: {len(outcome.samples)}")
    print(f"baseline (supervise + canonicalise + hash): {n / baseline:,.0f} conversations/s")
    print(f"whole build core:                          {n / build:,.0f} conversations/s")
    print(f"ratio build / baseline time: {build / baseline:.2f}")


if __name__ == "__main__":
    main()
