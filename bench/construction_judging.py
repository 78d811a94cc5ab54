"""How much two-order pairwise judging cancels a judge's position bias, and whether the
length-bias figure sees a judge that rewards length, on real hh-rlhf answer pairs.

The texts are real (../shared/datasets/hh-rlhf-harmless-base-test.jsonl.gz: a person preferred
the chosen final answer over the rejected one); the judge is simulated with known flaws so the
truth is known: it is right with probability ACCURACY, and with probability POSITION_BIAS it
answers "A" whatever it was shown. Flywheel's rules (flywheel/construction/selection.py and
stats.py) are the code under test:

1. Baseline: one pairwise question per pair, answers in random order; the pair is kept in the
   direction the judge chose. Flywheel: both orders asked and combined (combine_orders); a
   judge that picks the same position twice, or ties, keeps no pair. Prints the precision of
   kept pair directions and the error rate of each, and their ratios.
2. Length bias: pointwise scores from a judge that adds `lam * log(length)` to the true quality,
   for lam = 0 (fair) and lam = 1.5 (length-loving); prints the Spearman correlation Flywheel
   reports (stats.length_bias) for each, and the share of kept pairs whose chosen answer is longer.

Run: `python bench/construction_judging.py [--pairs 2000] [--seed 7]`. No database needed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = REPO.parent / "shared" / "datasets"
ACCURACY, POSITION_BIAS, TIE = 0.75, 0.3, 0.05


def final_answer(transcript: str) -> str:
    return transcript.rsplit("\n\nAssistant:", 1)[-1].strip()


def load_pairs(limit: int) -> list[tuple[str, str]]:
    path = DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz"
    if not path.exists():
        sys.exit(f"{path} is missing")
    pairs = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            chosen, rejected = final_answer(row["chosen"]), final_answer(row["rejected"])
            if chosen and rejected and chosen != rejected:
                pairs.append((chosen, rejected))
            if len(pairs) >= limit:
                break
    return pairs


def judge(rng: random.Random, a_is_better: bool) -> str:
    if rng.random() < POSITION_BIAS:
        return "A"
    if rng.random() < TIE:
        return "tie"
    right = rng.random() < ACCURACY
    return ("A" if a_is_better else "B") if right else ("B" if a_is_better else "A")


def position_bias_figures(pairs, rng) -> None:
    from flywheel.construction.selection import combine_orders

    one = {"kept": 0, "right": 0}
    two = {"kept": 0, "right": 0}
    for _chosen, _rejected in pairs:
        chosen_first = rng.random() < 0.5
        verdict = judge(rng, a_is_better=chosen_first)
        if verdict != "tie":
            one["kept"] += 1
            one["right"] += (verdict == "A") == chosen_first
        # x = the chosen answer (lower index): AB shows it first, BA second.
        pref, _inconsistent = combine_orders(judge(rng, a_is_better=True), judge(rng, a_is_better=False))
        if pref:
            two["kept"] += 1
            two["right"] += pref == 1
    n = len(pairs)
    p1, p2 = one["right"] / one["kept"], two["right"] / two["kept"]
    print(
        f"judge: right {ACCURACY:.0%} of the time, answers 'A' blindly {POSITION_BIAS:.0%} of the time, ties {TIE:.0%}"
    )
    print(
        f"one order (baseline): kept {one['kept'] / n:.1%} of {n} pairs, direction precision {p1:.3f}, error {1 - p1:.3f}"
    )
    print(
        f"two orders combined:  kept {two['kept'] / n:.1%} of {n} pairs, direction precision {p2:.3f}, error {1 - p2:.3f}"
    )
    print(
        f"ratio two/one: precision x{p2 / p1:.2f}, wrong pairs kept x{(1 - p2) * two['kept'] / ((1 - p1) * one['kept']):.2f}, "
        f"error rate x{(1 - p2) / (1 - p1):.2f}"
    )


def length_bias_figures(pairs, rng) -> None:
    from flywheel.construction.stats import length_bias

    for lam in (0.0, 1.5):
        points, kept = [], []
        for chosen, rejected in pairs:
            scores = {}
            for text, quality in ((chosen, 7.0), (rejected, 4.0)):
                score = quality + lam * (math.log(len(text) + 1) - 5) + rng.gauss(0, 1.5)
                scores[text] = max(1.0, min(10.0, score))
                points.append((len(text), scores[text]))
            if abs(scores[chosen] - scores[rejected]) >= 2:
                winner, loser = (chosen, rejected) if scores[chosen] > scores[rejected] else (rejected, chosen)
                kept.append((len(winner), len(loser)))
        bias = length_bias(points, kept)
        print(
            f"judge length weight {lam}: Spearman(length, score) = {bias['spearman']}, Pearson = {bias['pearson']}, "
            f"chosen answer longer in {bias['chosen_longer_share']:.1%} of {bias['pairs']} kept pairs"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    pairs = load_pairs(args.pairs)
    rng = random.Random(args.seed)
    longer = sum(len(c) > len(r) for c, r in pairs) / len(pairs)
    print(f"{len(pairs)} real hh-rlhf answer pairs; the human-chosen answer is the longer one in {longer:.1%}")
    position_bias_figures(pairs, rng)
    length_bias_figures(pairs, rng)


if __name__ == "__main__":
    main()
