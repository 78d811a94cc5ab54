"""Offline labeling and continuity prediction throughput, against the embedding pass they both
need, in one run (the machines are shared and noisy: compare ratios, not absolute times).

Sessions: N conversations of T user turns each (default 1,000 x 10), half Chinese (KdConv,
CrossWOZ), half English (TIAGE, hh-rlhf), from ../shared/datasets; conversations shorter than T
user turns are joined with the next ones of the same source (real pseudo multi-turn sessions).

Baselines: embedding every text the step reads, once, with the same model (the floor: neither
step can be faster than reading its input through the embedding model). Prints
1. the offline labeler (task-type classifier over the embedding, heuristic quality),
2. `manage.py continuity_predict` on the sessions as a JSONL file (features + MLP, packaged
   default model), against embedding the distinct texts of each of its batches,
and each one's time as a ratio of its baseline (baseline and step alternate, the fastest round of
each counts; CPU time is printed beside wall time, being less sensitive to other work). The goal
for continuity is 1,000 sessions of 10 user turns in under 60 s on 2 cores.

Run: `python bench/labeling_continuity.py [--sessions 1000] [--turns 10]`. No database needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _joined(conversations: list[list[dict]], turns: int) -> list[list[dict]]:
    """Conversations of exactly `turns` user turns, joining consecutive ones where needed."""
    out, current = [], []
    for messages in conversations:
        current += messages
        while sum(m["role"] == "user" for m in current) >= turns:
            users = [i for i, m in enumerate(current) if m["role"] == "user"]
            cut = users[turns] if len(users) > turns else len(current)
            out.append(current[:cut])
            current = current[cut:]
    return out


def sessions(n: int, turns: int) -> list[list[dict]]:
    from flywheel.continuity.public_samples import public_sample_sets
    from tests.support.datasets import SHARED_DATASETS

    sets = public_sample_sets(SHARED_DATASETS)
    chinese = [name for name in sets if name.startswith(("kdconv", "crosswoz"))]
    english = [name for name in sets if name.startswith(("tiage", "hh-rlhf"))]
    pools = {name: _joined([c.messages for c in sets[name]], turns) for name in chinese + english}
    out: list[list[dict]] = []
    for names, share in ((chinese, n // 2), (english, n - n // 2)):
        if not names:
            continue
        mixed = [s for group in zip(*(pools[name] for name in names)) for s in group]
        while mixed and len(mixed) < share:  # not enough: reuse (the embedding cache is per batch)
            mixed += mixed
        out += mixed[:share]
    while len(out) < n:  # synthetic filler when the samples are absent
        i = len(out)
        out.append(
            [
                m
                for k in range(turns)
                for m in (
                    {"role": "user", "content": f"Question {i}.{k}: how do I sort a list in Python?"},
                    {"role": "assistant", "content": "Use sorted(items) or items.sort()."},
                )
            ]
        )
    return out[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="alternating baseline/step rounds")
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command

    from flywheel.continuity.engine import EMBED_MAX_CHARS
    from flywheel.continuity.features import normalise
    from flywheel.continuity.management.commands.continuity_predict import BATCH
    from flywheel.labeling.classifier import instruction_view, request_view
    from flywheel.labeling.offline import label_offline, request_of
    from flywheel.labeling.taxonomy import taxonomy
    from flywheel.llm.embeddings import embed_texts, embedding_model_name

    data = sessions(args.sessions, args.turns)
    embed_texts(["warm up"])  # load the model outside the timings
    label_offline([{"messages": data[0], "language": ""}], taxonomy=taxonomy())  # and the classifier's weights

    def timed(step) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process, all threads): CPU time drifts less than wall
        time when other work shares the machine."""
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        return time.perf_counter() - wall, time.process_time() - cpu

    def alternating(baseline, step, rounds: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """Baseline and step in turn, `rounds` times; the fastest of each (the first round also pays
        for warming the allocator), wall and CPU."""
        base, mine = [], []
        for _ in range(rounds):
            base.append(timed(baseline))
            mine.append(timed(step))
        return (min(b[0] for b in base), min(b[1] for b in base)), (min(m[0] for m in mine), min(m[1] for m in mine))

    # Exactly what the offline labeler embeds: the distinct views (whole, instruction part) of each
    # session's request.
    requests = [request_of(s) for s in data]
    views = list(dict.fromkeys([request_view(r) for r in requests] + [instruction_view(r) for r in requests]))
    label_baseline, labeling = alternating(
        lambda: embed_texts(views),
        lambda: label_offline([{"messages": s, "language": ""} for s in data], taxonomy=taxonomy()),
        args.rounds,
    )

    # What continuity_predict embeds: the distinct normalised texts of each batch of BATCH sessions.
    batches = [
        list(dict.fromkeys(normalise(m["content"]) for s in data[i : i + BATCH] for m in s))
        for i in range(0, len(data), BATCH)
    ]

    def embedding_pass():
        for texts in batches:
            embed_texts(texts, max_chars=EMBED_MAX_CHARS)

    with tempfile.TemporaryDirectory() as directory:
        source, target = Path(directory) / "sessions.jsonl", Path(directory) / "out.jsonl"
        source.write_text("".join(json.dumps({"messages": s}, ensure_ascii=False) + "\n" for s in data))
        continuity_baseline, continuity = alternating(
            embedding_pass,
            lambda: call_command(
                "continuity_predict",
                "--input",
                str(source),
                "--output",
                str(target),
                stdout=open(os.devnull, "w"),
                stderr=open(os.devnull, "w"),
            ),
            args.rounds,
        )
        turns = sum(len(json.loads(line)["continuity"]) for line in target.open())

    print(f"embedding model: {embedding_model_name()}, cores: {len(os.sched_getaffinity(0))}")
    print(f"sessions: {len(data)}, user turns predicted: {turns}, texts embedded: {sum(map(len, batches))}")
    for name, (base, mine) in (
        ("offline labeling", (label_baseline, labeling)),
        ("continuity", (continuity_baseline, continuity)),
    ):
        print(
            f"{name + ':':18s}{len(data) / mine[0]:8.1f} sessions/s  (wall {mine[0]:.1f}s, {mine[0] / base[0]:.2f}x "
            f"its embedding baseline of {base[0]:.1f}s; CPU {mine[1]:.1f}s, {mine[1] / base[1]:.2f}x the "
            f"baseline's {base[1]:.1f}s)"
        )
    print(
        f"continuity: {turns / continuity[0]:.0f} user turns/s; goal: {args.sessions} sessions of {args.turns} user "
        f"turns in under 60 s wall on 2 cores: {'met' if continuity[0] < 60 else 'NOT met'} ({continuity[0]:.1f}s)"
    )


if __name__ == "__main__":
    main()
