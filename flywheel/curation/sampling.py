"""Sampling strategies for building: pure functions over keys, scores and cluster labels.
Deterministic for a seed; ties keep the input order."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence


def top_n_by_score(keys: Sequence, scores: Sequence[float | None], n: int) -> list:
    """The n keys with the highest score; keys without a score (None) come last, never as 0."""
    if n < 0:
        raise ValueError("n must not be negative")
    order = sorted(range(len(keys)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))
    return [keys[i] for i in order[:n]]


def _by_cluster(keys: Sequence, labels: Sequence[int]) -> dict[int, list]:
    groups: dict[int, list] = defaultdict(list)
    for key, label in zip(keys, labels, strict=True):
        groups[label].append(key)
    return dict(sorted(groups.items()))


def _quota_sample(groups: dict[int, list], quotas: dict[int, int], seed: int) -> list:
    rng = random.Random(seed)
    chosen = []
    for label, members in groups.items():
        take = min(quotas.get(label, 0), len(members))
        chosen.extend(rng.sample(members, take))
    return chosen


def _fill(quotas: dict[int, int], groups: dict[int, list], n: int, weights: dict[int, float]) -> dict[int, int]:
    """Hand out what capped clusters could not take to the others, largest weight first."""
    total = sum(len(members) for members in groups.values())
    n = min(n, total)
    while sum(quotas.values()) < n:
        open_ = [label for label in groups if quotas[label] < len(groups[label])]
        label = max(open_, key=lambda lab: (weights[lab] - quotas[lab], -lab))
        quotas[label] += 1
    return quotas


def uniform_per_cluster(keys: Sequence, labels: Sequence[int], n: int, *, seed: int = 0) -> list:
    """About n keys, the same number from every cluster (small clusters give all they have)."""
    groups = _by_cluster(keys, labels)
    if not groups or n <= 0:
        return []
    base = n // len(groups)
    quotas = {label: min(base, len(members)) for label, members in groups.items()}
    quotas = _fill(quotas, groups, n, {label: n / len(groups) for label in groups})
    return _quota_sample(groups, quotas, seed)


def log_proportional_per_cluster(keys: Sequence, labels: Sequence[int], n: int, *, seed: int = 0) -> list:
    """About n keys, from each cluster in proportion to log(1 + its size): big clusters still give
    more, but far less than their share, so rare topics survive."""
    groups = _by_cluster(keys, labels)
    if not groups or n <= 0:
        return []
    weights = {label: math.log1p(len(members)) for label, members in groups.items()}
    scale = n / sum(weights.values())
    targets = {label: weight * scale for label, weight in weights.items()}
    quotas = {label: min(int(math.floor(targets[label])), len(groups[label])) for label in groups}
    quotas = _fill(quotas, groups, n, targets)
    return _quota_sample(groups, quotas, seed)
