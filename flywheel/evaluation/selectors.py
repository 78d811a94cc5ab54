"""Reads of evaluations: the list, the comparison page (per task type and dimension, bootstrap 95%
intervals, win rate, regressions) and one regression with the training data nearest to it."""

from __future__ import annotations

from django.db.models import Count

from flywheel.evaluation import scoring
from flywheel.evaluation.models import (
    CandidateAnswer,
    EvalItem,
    EvalSet,
    EvalSetDraft,
    Evaluation,
    HumanComparison,
    Judgement,
)
from flywheel.evaluation.neighbours import nearest_training_samples
from flywheel.evaluation.services import candidate_parse_key
from flywheel.evaluation.summary import item_scores, pairwise_outcomes
from flywheel.ui.paging import keyset_page

PAGE_SIZE = 50
REGRESSION_MARGIN = 1.0
"""An item regresses when the candidate's usability is this much below the baseline's (1-10), or
when the baseline won it in both orders."""


def evaluations_page(*, before_id: int | None = None, size: int = PAGE_SIZE) -> dict:
    page = keyset_page(Evaluation.objects.select_related("eval_set", "run", "job"), past=before_id, size=size)
    return {
        "evaluations": page.rows,
        "next_before": page.next_key,
        "eval_sets": list(EvalSet.objects.order_by("-id")[:20]),
        "drafts": list(EvalSetDraft.objects.annotate(item_count=Count("items")).select_related("latest")[:20]),
    }


def evaluations_of_run(*, run_id: int) -> list[Evaluation]:
    return list(Evaluation.objects.filter(run_id=run_id).select_related("eval_set").order_by("-id")[:20])


def _answers(eval_set, key: str | None) -> dict[int, CandidateAnswer]:
    if not key:
        return {}
    return {a.item_id: a for a in CandidateAnswer.objects.filter(item__eval_set=eval_set, candidate_key=key)}


def evaluation_comparison(*, evaluation_id: int) -> dict | None:
    evaluation = Evaluation.objects.select_related("eval_set", "run", "job").filter(id=evaluation_id).first()
    if evaluation is None:
        return None
    eval_set = evaluation.eval_set
    items = {item.id: item for item in eval_set.items.all()}
    candidate_key, baseline_key = candidate_parse_key(evaluation.candidate), candidate_parse_key(evaluation.baseline)
    answers, baseline_answers = _answers(eval_set, candidate_key), _answers(eval_set, baseline_key)
    dimensions = list(scoring.DIMENSIONS) + ["usability"]
    ours = item_scores(answers=answers, dimensions=list(scoring.DIMENSIONS), weights=eval_set.weights, items=items)
    theirs = item_scores(
        answers=baseline_answers, dimensions=list(scoring.DIMENSIONS), weights=eval_set.weights, items=items
    )
    pairwise = (
        pairwise_outcomes(items=items, answers=answers, baseline_answers=baseline_answers)
        if baseline_answers
        else {"per_item": {}, "pairwise_by_task_type": {}}
    )
    rows = []
    for task_type in sorted({item.task_type for item in items.values()}):
        ids = [item_id for item_id, item in items.items() if item.task_type == task_type]
        for dimension in dimensions:

            def values(per_item, dimension=dimension, ids=ids):
                return [
                    (per_item[i]["usability"] if dimension == "usability" else per_item[i]["scores"][dimension])
                    for i in ids
                    if i in per_item and (dimension != "usability" or per_item[i]["usability"] is not None)
                ]

            a, b = values(ours), values(theirs)
            rows.append(
                {
                    "task_type": task_type,
                    "dimension": dimension,
                    "candidate": _stat(a),
                    "baseline": _stat(b),
                    "pairwise": pairwise["pairwise_by_task_type"].get(task_type) if dimension == "usability" else None,
                }
            )
    regressions = []
    for item_id, item in items.items():
        mine, other = ours.get(item_id), theirs.get(item_id)
        outcome = pairwise["per_item"].get(item_id, {}).get("outcome")
        drop = (
            (other["usability"] - mine["usability"])
            if mine and other and None not in (mine["usability"], other["usability"])
            else None
        )
        if (drop is not None and drop >= REGRESSION_MARGIN) or outcome == "loss":
            regressions.append({"item": item, "drop": None if drop is None else round(drop, 2), "outcome": outcome})
    regressions.sort(key=lambda row: -(row["drop"] or 0))
    return {
        "evaluation": evaluation,
        "summary": evaluation.summary,
        "rows": rows,
        "regressions": regressions,
        "margin": REGRESSION_MARGIN,
        "human": judge_human_agreement(evaluation=evaluation),
    }


def _stat(values: list[float]) -> dict | None:
    if not values:
        return None
    low, high = scoring.bootstrap_interval(values)
    return {"mean": round(sum(values) / len(values), 2), "low": round(low, 2), "high": round(high, 2), "n": len(values)}


def regression_detail(*, evaluation_id: int, item_id: int, neighbours: int = 5) -> dict | None:
    evaluation = (
        Evaluation.objects.select_related("eval_set", "run", "run__dataset_version").filter(id=evaluation_id).first()
    )
    item = EvalItem.objects.filter(id=item_id, eval_set_id=evaluation.eval_set_id).first() if evaluation else None
    if item is None:
        return None
    sides = []
    for label, spec in (("candidate", evaluation.candidate), ("baseline", evaluation.baseline)):
        key = candidate_parse_key(spec)
        answer = CandidateAnswer.objects.filter(item=item, candidate_key=key).first() if key else None
        verdicts = list(Judgement.objects.filter(answer=answer).order_by("kind", "order", "repeat")) if answer else []
        sides.append({"label": label, "spec": spec, "answer": answer, "verdicts": verdicts})
    return {
        "evaluation": evaluation,
        "item": item,
        "sides": sides,
        "nearest": nearest_training_samples(evaluation=evaluation, item=item, limit=neighbours),
    }


def judge_human_agreement(*, evaluation: Evaluation) -> dict:
    """Cohen's κ between the judge's two-order verdict (win/tie/loss of the candidate) and the
    blind human one, on the items both decided."""
    human = {
        c.item_id: {"candidate": "win", "baseline": "loss", "tie": "tie"}[c.winner]
        for c in HumanComparison.objects.filter(evaluation=evaluation).exclude(winner="")
    }
    if not human or not evaluation.baseline:
        return {
            "items": 0,
            "kappa": None,
            "pending": HumanComparison.objects.filter(evaluation=evaluation, winner="").count(),
        }
    items = {item.id: item for item in evaluation.eval_set.items.all()}
    key, baseline_key = candidate_parse_key(evaluation.candidate), candidate_parse_key(evaluation.baseline)
    judged = pairwise_outcomes(
        items=items,
        answers=_answers(evaluation.eval_set, key),
        baseline_answers=_answers(evaluation.eval_set, baseline_key),
    )["per_item"]
    both = sorted(set(human) & set(judged))
    kappa = scoring.cohen_kappa([judged[i]["outcome"] for i in both], [human[i] for i in both])
    return {
        "items": len(both),
        "kappa": None if kappa is None else round(kappa, 3),
        "agreement": round(sum(judged[i]["outcome"] == human[i] for i in both) / len(both), 3) if both else None,
        "pending": HumanComparison.objects.filter(evaluation=evaluation, winner="").count(),
    }


def model_version_evaluations(*, versions: list[str]) -> dict[str, dict]:
    """{model version: its latest finished evaluation as `endpoint:<version>` (the model served
    under that name)}: mode, mean usability over task types (judge) or mean reference metric
    (offline), win rate, and the evaluation id."""
    latest: dict[str, dict] = {}
    specs = {f"endpoint:{version}": version for version in versions}
    for evaluation in Evaluation.objects.filter(candidate__in=specs, status=Evaluation.Status.DONE).order_by(
        "-finished_at", "-id"
    ):
        version = specs[evaluation.candidate]
        if version in latest:
            continue
        values = [v for v in (evaluation.summary.get("usability") or {}).values() if v is not None]
        latest[version] = {
            "id": evaluation.id,
            "mode": evaluation.mode,
            "score": round(sum(values) / len(values), 2) if values else None,
            "win_rate": evaluation.summary.get("win_rate"),
        }
    return latest
