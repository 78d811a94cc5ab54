"""Curation speed, each figure a ratio against a baseline measured in the same run.

1. K-Center-Greedy (MoDS's diversity stage): `flywheel.curation.kcenter.k_center_greedy` picking
   1,000 centres among 100,000 x 384 rows (the shape of sentence embeddings), against a MoDS-style
   loop on the same rows: MoDS (like the active-learning code it copies) calls
   `sklearn.metrics.pairwise_distances(features, new_centre)` every step and takes the minimum
   with the running distances. Its cost per step is constant, so it runs `--baseline-centres`
   steps and its time for all centres is that time scaled up (said in the output); both loops
   pick the same centres, which is checked on the steps both ran.
   The rows are unit vectors around 500 topics, as embeddings of real texts are (clustered, not
   uniform noise); `--uniform` uses Gaussian noise instead, where no row can be skipped.
2. IFD (`python -m training ifd`): conversations per second, batched, against a faithful
   one-at-a-time loop like Cherry's (one forward pass per turn for the conditioned loss and one
   for the direct loss), on the same conversations and the tiny model, same run.

Run: `python bench/curation.py [--rows 100000 --dim 384 --centres 1000] [--skip-ifd] [--skip-kcenter]`.
No database needed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def embedding_like_rows(rows: int, dim: int, topics: int = 500, seed: int = 0, uniform: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if uniform:
        X = rng.standard_normal((rows, dim), dtype=np.float32)
    else:
        hubs = rng.standard_normal((topics, dim), dtype=np.float32)
        hubs /= np.linalg.norm(hubs, axis=1, keepdims=True)
        X = hubs[rng.integers(0, topics, rows)] + 0.35 * rng.standard_normal((rows, dim), dtype=np.float32) / np.sqrt(
            dim
        )
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32)  # what embed_texts returns


def mods_style_k_center(X: np.ndarray, steps: int, start: int = 0) -> list[int]:
    """MoDS's kcenter_greedy.py, minus the class around it: pairwise distances every step."""
    from sklearn.metrics import pairwise_distances

    min_distances = pairwise_distances(X, X[[start]], metric="euclidean").min(axis=1).reshape(-1, 1)
    picked = [start]
    for _ in range(steps - 1):
        index = int(np.argmax(min_distances))
        picked.append(index)
        distances = pairwise_distances(X, X[[index]], metric="euclidean")
        min_distances = np.minimum(min_distances, distances)
    return picked


def bench_kcenter(arguments) -> None:
    from flywheel.curation.kcenter import k_center_greedy

    X = embedding_like_rows(arguments.rows, arguments.dim, uniform=arguments.uniform)
    began, began_cpu = time.perf_counter(), time.process_time()
    indices, radii = k_center_greedy(X, arguments.centres)
    ours, ours_cpu = time.perf_counter() - began, time.process_time() - began_cpu

    steps = min(arguments.baseline_centres, arguments.centres)
    began = time.perf_counter()
    baseline_picked = mods_style_k_center(X, steps)
    baseline = (time.perf_counter() - began) * arguments.centres / steps
    same = baseline_picked == indices[:steps].tolist()
    print(
        f"k-center-greedy {arguments.rows} x {arguments.dim} -> {arguments.centres} centres "
        f"({'gaussian' if arguments.uniform else 'clustered unit'} rows, {os.cpu_count()} cores)"
    )
    print(
        f"  ours:       {ours:8.2f} s   ({ours_cpu:.2f} s of CPU over all threads; "
        f"load average {os.getloadavg()[0]:.1f}; final coverage radius {radii[-1]:.4f})"
    )
    print(
        f"  MoDS-style: {baseline:8.2f} s   ({steps} steps timed, scaled to {arguments.centres}; "
        f"same centres on those steps: {same})"
    )
    print(f"  ratio MoDS-style / ours: {baseline / ours:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--centres", type=int, default=1_000)
    parser.add_argument("--baseline-centres", type=int, default=100)
    parser.add_argument("--uniform", action="store_true")
    parser.add_argument("--skip-kcenter", action="store_true")
    parser.add_argument("--skip-ifd", action="store_true")
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    arguments = parser.parse_args()
    if not arguments.skip_kcenter:
        bench_kcenter(arguments)
    if not arguments.skip_ifd:
        bench_ifd(arguments)


def ifd_conversations(count: int, seed: int = 0) -> list[dict]:
    import random

    words = (
        "the model should answer this question about python lists sorting cooking rice travel visa museum "
        "poem summary translate 你好 请问 怎么 安装 电影 推荐"
    ).split()
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        messages = []
        for _ in range(rng.choice([1, 2, 3])):
            messages.append({"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(5, 25)))})
            messages.append({"role": "assistant", "content": " ".join(rng.choices(words, k=rng.randint(10, 60)))})
        records.append({"messages": messages})
    return records


def bench_ifd(arguments) -> None:
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.ifd import read_ifd_conversations, score_conversations, score_one_at_a_time
    from training.tiny_model import make_tiny_model

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as directory:
        model_dir = make_tiny_model(Path(directory) / "tiny", template="chatml")
        data = Path(directory) / "data.jsonl"
        data.write_text(
            "".join(
                json.dumps(record, ensure_ascii=False) + "\n" for record in ifd_conversations(arguments.conversations)
            ),
            encoding="utf-8",
        )
        conversations, _ = read_ifd_conversations(data)
        results, report = score_conversations(str(model_dir), conversations, batch_size=arguments.batch_size)
        batched = report["conversations_per_s"]

        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        began = time.perf_counter()
        reference = [score_one_at_a_time(model, tokenizer, conversation) for conversation in conversations]
        one_at_a_time = len(conversations) / (time.perf_counter() - began)
    worst = max(
        abs(got["ifd"] - expected["ifd"]) / expected["ifd"]
        for rows, expected_rows in zip(results, reference)
        for got, expected in zip(rows, expected_rows)
        if expected["ifd"]
    )
    print(f"IFD, tiny model, {len(conversations)} conversations ({report['turns']} turns), CPU")
    print(f"  batched (batch {arguments.batch_size}): {batched:8.2f} conversations/s")
    print(f"  one at a time (Cherry-style): {one_at_a_time:8.2f} conversations/s")
    print(
        f"  ratio batched / one at a time: {batched / one_at_a_time:.1f}x  (largest relative IFD difference {worst:.1e})"
    )


if __name__ == "__main__":
    main()
