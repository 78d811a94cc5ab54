"""Judge bias figures of a run: length bias (do longer answers get higher scores?) and
position bias (does the judge prefer whichever answer it is shown first?)."""

from __future__ import annotations

import math

from scipy import stats as scipy_stats


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 4)


def length_bias(points: list[tuple[int, float]], kept_pairs: list[tuple[int, int]]) -> dict:
    """`points`: (length in characters, pointwise score) of every judged candidate of the run;
    `kept_pairs`: (chosen length, rejected length) of every pair kept.

    pearson / spearman: correlation of length and score (near 0: no length bias; a strong
    positive value over many bad cases says the judge rewards length). chosen_longer_share:
    how often the kept pair's chosen answer is the longer one (0.5 would be length-neutral)."""
    result = {
        "n": len(points),
        "pearson": None,
        "spearman": None,
        "pairs": len(kept_pairs),
        "chosen_longer_share": None,
    }
    lengths = [p[0] for p in points]
    scores = [p[1] for p in points]
    if len(points) >= 3 and len(set(lengths)) > 1 and len(set(scores)) > 1:
        result["pearson"] = _finite(scipy_stats.pearsonr(lengths, scores).statistic)
        result["spearman"] = _finite(scipy_stats.spearmanr(lengths, scores).statistic)
    if kept_pairs:
        result["chosen_longer_share"] = round(sum(1 for c, r in kept_pairs if c > r) / len(kept_pairs), 4)
    return result


def position_bias(comparisons: list[tuple[str, str]]) -> dict:
    """`comparisons`: (winner when shown AB, winner when shown BA) of each pairwise comparison
    asked in both orders. inconsistent: the judge picked the same position both times."""
    both = [(a, b) for a, b in comparisons if a and b]
    first_position = sum((a == "A") + (b == "A") for a, b in both)
    decided = sum((a != "tie") + (b != "tie") for a, b in both)
    inconsistent = sum(1 for a, b in both if a == b and a in ("A", "B"))
    return {
        "comparisons": len(both),
        "inconsistent": inconsistent,
        "first_position_share": round(first_position / decided, 4) if decided else None,
    }
