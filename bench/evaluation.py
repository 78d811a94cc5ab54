"""Evaluation figures, each a ratio against a baseline measured in the same run.

1. Generation throughput of `python -m training generate` (training/generate.py): new tokens per
   second with prompts batched and left-padded (--batch-size, default 8) against one prompt at a
   time, on the same real prompts (the first human turn of hh-rlhf dialogues) and the same model
   (the tiny offline model unless --model is given), greedy, same process.
2. Two-order judging against a judge with a known position bias, on real hh-rlhf pairs
   (../shared/datasets/hh-rlhf-harmless-base-test.jsonl.gz: a person preferred `chosen` over
   `rejected`). The candidate's answer is the chosen one on a random --true-win share of the
   items and the rejected one elsewhere, so the true win rate is known. The simulated judge picks
   the human-preferred answer with probability ACCURACY, and with probability POSITION_BIAS says
   "A" whatever it was shown. Baseline: one order, the candidate shown first (the usual script).
   Flywheel: both orders, combined with construction's combine_orders (the same position twice
   is a tie); win rate = (wins + ties / 2) / items. Prints both measured win rates, their distance
   from the truth, and the measured position bias (flywheel.evaluation.scoring.position_bias).
   Answer texts are real; their lengths feed the length-bias figure (share of decided
   comparisons won by the longer answer), which a fair judge leaves near the human share.

Run: `python bench/evaluation.py [--items 64 --batch-size 8 --max-new-tokens 32] [--pairs 2000]
[--skip-generate]`. No database needed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = Path(os.environ.get("FLYWHEEL_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
ACCURACY, POSITION_BIAS = 0.8, 0.3


def hh_pairs(limit: int) -> list[dict]:
    pairs = []
    with gzip.open(DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            chosen, rejected = (record[key].rsplit("\n\nAssistant:", 1) for key in ("chosen", "rejected"))
            prompt = record["chosen"].split("\n\nHuman:", 1)[-1].split("\n\nAssistant:", 1)[0].strip()
            if len(chosen) == 2 and len(rejected) == 2 and chosen[1].strip() != rejected[1].strip() and prompt:
                pairs.append({"prompt": prompt, "chosen": chosen[1].strip(), "rejected": rejected[1].strip()})
            if len(pairs) == limit:
                break
    return pairs


def bench_generate(args) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from training.generate import GenerationItem, generate_answers
    from training.tiny_model import make_tiny_model

    model = args.model
    if not model:
        model = str(make_tiny_model(Path(tempfile.mkdtemp(prefix="bench-eval-")) / "tiny"))
    items = [
        GenerationItem(index + 1, [{"role": "user", "content": pair["prompt"][:500]}], None, "hh-rlhf")
        for index, pair in enumerate(hh_pairs(args.items))
    ]
    generate_answers(model, items[:2], max_new_tokens=2, batch_size=2)  # warm-up (load, first kernels)
    batched, batched_report = generate_answers(
        model, items, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size
    )
    single, single_report = generate_answers(model, items, max_new_tokens=args.max_new_tokens, batch_size=1)
    same = sum(a["answer"] == b["answer"] for a, b in zip(batched, single))
    print(
        f"generate: {len(items)} prompts, greedy, max {args.max_new_tokens} new tokens, model {model}, "
        f"device {batched_report['device']}"
    )
    print(
        f"  one at a time: {single_report['new_tokens']} tokens in {single_report['seconds']:.2f}s = "
        f"{single_report['tokens_per_s']} tokens/s"
    )
    print(
        f"  batched ×{args.batch_size}: {batched_report['new_tokens']} tokens in {batched_report['seconds']:.2f}s = "
        f"{batched_report['tokens_per_s']} tokens/s"
    )
    print(
        f"  ratio batched / one at a time: {batched_report['tokens_per_s'] / single_report['tokens_per_s']:.2f}x; "
        f"identical greedy answers: {same}/{len(items)}"
    )


def simulated_judge(rng: random.Random, shown_a: str, shown_b: str, preferred: str) -> str:
    if rng.random() < POSITION_BIAS:
        return "A"
    right = rng.random() < ACCURACY
    picked = preferred if right else (shown_b if preferred == shown_a else shown_a)
    return "A" if picked == shown_a else "B"


def bench_two_orders(args) -> None:
    for true_win in args.true_win:
        two_orders_once(args, true_win)


def two_orders_once(args, true_win: float) -> None:
    from flywheel.construction.selection import combine_orders
    from flywheel.evaluation.scoring import position_bias

    rng = random.Random(args.seed)
    pairs = hh_pairs(args.pairs)
    one_order_wins, outcomes, verdicts, longer = 0, {"win": 0, "tie": 0, "loss": 0}, [], []
    truth = 0
    for pair in pairs:
        candidate_is_chosen = rng.random() < true_win
        truth += candidate_is_chosen
        candidate, baseline = (
            (pair["chosen"], pair["rejected"]) if candidate_is_chosen else (pair["rejected"], pair["chosen"])
        )
        preferred = pair["chosen"]
        # Baseline: one question, the candidate shown as A.
        one = simulated_judge(rng, candidate, baseline, preferred)
        one_order_wins += one == "A"
        # Flywheel: both orders.
        ab = simulated_judge(rng, candidate, baseline, preferred)
        ba = simulated_judge(rng, baseline, candidate, preferred)
        verdicts += [("AB", ab), ("BA", ba)]
        preference, _ = combine_orders(ab, ba)
        outcomes[{1: "win", 0: "tie", -1: "loss"}[preference]] += 1
        if preference and len(candidate) != len(baseline):
            longer.append((preference > 0) == (len(candidate) > len(baseline)))
    n = len(pairs)
    true_rate = truth / n
    # What this judge would measure without its position bias (one order or two: the same
    # expectation), so the distance below is what the bias costs.
    fair = true_rate * ACCURACY + (1 - true_rate) * (1 - ACCURACY)
    one_rate = one_order_wins / n
    two_rate = (outcomes["win"] + 0.5 * outcomes["tie"]) / n
    print(
        f"two-order judging: {n} real hh-rlhf pairs, judge accuracy {ACCURACY}, position bias {POSITION_BIAS} "
        f"(says A regardless); human truth {true_rate:.3f}, the same judge without its bias {fair:.3f}"
    )
    print(
        f"  one order (candidate first): measured {one_rate:.3f}; off the bias-free judge by "
        f"{abs(one_rate - fair):.3f}, off the human truth by {abs(one_rate - true_rate):.3f}"
    )
    print(
        f"  both orders (combine_orders): measured {two_rate:.3f}; off the bias-free judge by "
        f"{abs(two_rate - fair):.3f}, off the human truth by {abs(two_rate - true_rate):.3f} "
        f"(win/tie/loss {outcomes['win']}/{outcomes['tie']}/{outcomes['loss']})"
    )
    print(f"  bias error ratio one order / both orders: {abs(one_rate - fair) / max(1e-9, abs(two_rate - fair)):.2f}x")
    print(
        f"  measured position bias (share of non-tie verdicts for the answer shown first): "
        f"{position_bias(verdicts):.3f} (0.5 = none)"
    )
    if longer:
        print(f"  longer answer wins {sum(longer) / len(longer):.3f} of decided comparisons")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--model", default="", help="a model directory; default: the tiny offline model")
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--true-win", type=float, nargs="+", default=[0.35, 0.65])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-generate", action="store_true")
    args = parser.parse_args()
    bench_two_orders(args)
    if not args.skip_generate:
        bench_generate(args)


if __name__ == "__main__":
    main()
