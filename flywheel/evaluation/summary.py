"""The summary of an evaluation, computed from its stored answers and verdicts (nothing is asked
again): per task type and dimension means, usability, spread of repeats, win/tie/loss in both
orders, position and length bias, dead letters, judge calls and cost; or, offline, the
reference metrics."""

from __future__ import annotations

import statistics
from collections import defaultdict
from decimal import Decimal

from django.conf import settings

from flywheel.construction.selection import combine_orders
from flywheel.evaluation import scoring
from flywheel.evaluation.models import CandidateAnswer, EvalItem, Judgement


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 4) if values else None


def item_scores(
    *, answers: dict[int, CandidateAnswer], dimensions: list[str], weights: dict, items: dict[int, EvalItem]
) -> dict[int, dict]:
    """{item id: {"scores": {dim: mean over repeats}, "usability", "spread", "reasons"}} of one candidate."""
    by_answer = defaultdict(list)
    for judgement in Judgement.objects.filter(
        answer_id__in=[a.id for a in answers.values()], kind=Judgement.Kind.POINTWISE, dead=False
    ).order_by("repeat"):
        by_answer[judgement.answer_id].append(judgement)
    result = {}
    for item_id, answer in answers.items():
        verdicts = [j for j in by_answer.get(answer.id, []) if set(dimensions) <= set(j.scores)]
        if not verdicts:
            continue
        scores = {name: statistics.fmean(j.scores[name] for j in verdicts) for name in dimensions}
        repeated = [
            scoring.usability(j.scores, scoring.weights_for(items[item_id].task_type, weights)) for j in verdicts
        ]
        result[item_id] = {
            "scores": scores,
            "usability": scoring.usability(scores, scoring.weights_for(items[item_id].task_type, weights)),
            "spread": scoring.spread([u for u in repeated if u is not None]),
            "reasons": [j.reasons for j in verdicts],
        }
    return result


def per_task_type(items: dict[int, EvalItem], per_item: dict[int, dict], dimensions: list[str]) -> tuple[dict, dict]:
    scores, usability = defaultdict(dict), {}
    grouped = defaultdict(list)
    for item_id, row in per_item.items():
        grouped[items[item_id].task_type].append(row)
    for task_type, rows in sorted(grouped.items()):
        for name in dimensions:
            scores[task_type][name] = _mean(row["scores"][name] for row in rows)
        usability[task_type] = _mean(row["usability"] for row in rows)
    return dict(scores), usability


def pairwise_outcomes(
    *, items: dict[int, EvalItem], answers: dict[int, CandidateAnswer], baseline_answers: dict[int, CandidateAnswer]
) -> dict:
    """Both orders combined as construction does (+1 candidate better, -1 worse, 0 tie)."""
    verdicts = defaultdict(dict)
    for judgement in Judgement.objects.filter(
        answer_id__in=[a.id for a in answers.values()],
        kind=Judgement.Kind.PAIRWISE,
        dead=False,
        other_id__in=[a.id for a in baseline_answers.values()],
    ):
        verdicts[judgement.item_id][judgement.order] = judgement
    totals = {"win": 0, "tie": 0, "loss": 0}
    by_type = defaultdict(lambda: {"win": 0, "tie": 0, "loss": 0})
    single_order, decisions, per_item, inconsistent = [], [], {}, 0
    for item_id, orders in verdicts.items():
        for order, judgement in orders.items():
            single_order.append((order, judgement.winner))
        if "AB" not in orders or "BA" not in orders:
            continue
        preference, contradicted = combine_orders(orders["AB"].winner, orders["BA"].winner)
        inconsistent += contradicted
        outcome = {1: "win", 0: "tie", -1: "loss"}[preference]
        totals[outcome] += 1
        by_type[items[item_id].task_type][outcome] += 1
        decisions.append((preference, len(answers[item_id].answer), len(baseline_answers[item_id].answer)))
        per_item[item_id] = {"outcome": outcome, "reasons": [orders["AB"].reasons, orders["BA"].reasons]}
    decided = totals["win"] + totals["loss"]
    return {
        "pairwise": totals,
        "pairwise_by_task_type": dict(by_type),
        "win_rate": round((totals["win"] + 0.5 * totals["tie"]) / max(1, sum(totals.values())), 4)
        if sum(totals.values())
        else None,
        "decided": decided,
        "order_contradictions": inconsistent,
        "position_bias": scoring.position_bias(single_order),
        "decisions": decisions,
        "per_item": per_item,
    }


def evaluation_summary(evaluation, *, candidate_key: str, baseline_key: str | None) -> dict:
    eval_set = evaluation.eval_set
    items = {item.id: item for item in eval_set.items.all()}
    dimensions = list(scoring.DIMENSIONS)
    answers = {
        a.item_id: a for a in CandidateAnswer.objects.filter(item__eval_set=eval_set, candidate_key=candidate_key)
    }
    baseline_answers = (
        {a.item_id: a for a in CandidateAnswer.objects.filter(item__eval_set=eval_set, candidate_key=baseline_key)}
        if baseline_key
        else {}
    )
    summary = {
        "evaluation": evaluation.id,
        "eval_set": eval_set.id,
        "items": len(items),
        "candidate": evaluation.candidate,
        "baseline": evaluation.baseline or None,
        "task_types": dict(sorted(eval_set.task_types.items())),
        "mode": evaluation.mode,
        "judge_repeats": evaluation.judge_repeats,
    }
    if evaluation.mode == "offline":
        summary.update(offline_summary(items, answers, baseline_answers))
        return summary
    candidate_items = item_scores(answers=answers, dimensions=dimensions, weights=eval_set.weights, items=items)
    summary["scores"], summary["usability"] = per_task_type(items, candidate_items, dimensions)
    summary["spread"] = (
        _mean(row["spread"] for row in candidate_items.values()) if evaluation.judge_repeats > 1 else 0.0
    )
    summary["baseline_scores"], summary["baseline_usability"] = {}, {}
    if baseline_key:
        baseline_items = item_scores(
            answers=baseline_answers, dimensions=dimensions, weights=eval_set.weights, items=items
        )
        summary["baseline_scores"], summary["baseline_usability"] = per_task_type(items, baseline_items, dimensions)
        pairwise = pairwise_outcomes(items=items, answers=answers, baseline_answers=baseline_answers)
        decisions = pairwise.pop("decisions")
        pairwise.pop("per_item")
        summary.update(pairwise)
    else:
        decisions = []
        summary.update(
            {
                "pairwise": {"win": 0, "tie": 0, "loss": 0},
                "pairwise_by_task_type": {},
                "win_rate": None,
                "position_bias": None,
                "order_contradictions": 0,
            }
        )
    scored = [
        (row["usability"], len(answers[item_id].answer))
        for item_id, row in candidate_items.items()
        if row["usability"] is not None
    ]
    summary["length_bias"] = scoring.length_bias(decisions, scored)
    summary.update(judge_usage(eval_set, [answers, baseline_answers]))
    return summary


def judge_usage(eval_set, answer_maps: list[dict]) -> dict:
    ids = [a.id for answers in answer_maps for a in answers.values()]
    calls, dead, cost = 0, 0, Decimal(0)
    for judgement in Judgement.objects.filter(answer_id__in=ids).only("usage", "dead", "model"):
        usage = judgement.usage or {}
        calls += usage.get("calls", 0)
        dead += judgement.dead
        price = settings.FLYWHEEL_LLM_PRICES.get(judgement.model)
        if price is not None:
            cost += (
                price.input_per_million * usage.get("prompt_tokens", 0)
                + price.output_per_million * usage.get("completion_tokens", 0)
            ) / Decimal(1_000_000)
    return {"judge_calls": calls, "judge_dead_letters": dead, "cost_usd": float(round(cost, 6))}


def offline_summary(items: dict[int, EvalItem], answers: dict, baseline_answers: dict) -> dict:
    """Reference metrics only (no judge): exact match for math, char-F1 for Chinese, word-F1 otherwise."""

    def metric_means(answer_map):
        grouped = defaultdict(list)
        metrics = {}
        for item_id, answer in answer_map.items():
            item = items[item_id]
            if not item.reference:
                continue
            score = scoring.offline_score(answer.answer, item.reference, item.task_type)
            grouped[item.task_type].append(score["value"])
            metrics[item.task_type] = score["metric"]
        return {task_type: {metrics[task_type]: _mean(values)} for task_type, values in sorted(grouped.items())}

    scores = metric_means(answers)
    losses = defaultdict(list)
    for item_id, answer in answers.items():
        if answer.reference_loss is not None:
            losses[items[item_id].task_type].append(answer.reference_loss)
    return {
        "reference_loss": {task_type: _mean(values) for task_type, values in sorted(losses.items())},
        "label": "offline evaluator: reference metrics, no judge",
        "scores": scores,
        "usability": {task_type: next(iter(values.values())) for task_type, values in scores.items()},
        "baseline_scores": metric_means(baseline_answers) if baseline_answers else {},
        "pairwise": {"win": 0, "tie": 0, "loss": 0},
        "win_rate": None,
        "position_bias": None,
        "length_bias": {"longer_wins": None, "score_length_correlation": None},
        "judge_calls": 0,
        "judge_dead_letters": 0,
        "cost_usd": 0.0,
    }
