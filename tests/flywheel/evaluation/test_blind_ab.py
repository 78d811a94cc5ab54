"""Blind A/B review: the order is drawn on the server and the page never names the models; the
human verdict maps back to candidate/baseline, and judge-vs-human agreement is Cohen's κ."""

import pytest
from django.urls import reverse

from flywheel.evaluation.models import Evaluation, HumanComparison
from flywheel.evaluation.selectors import judge_human_agreement
from flywheel.evaluation.services import evaluation_human_review_enqueue
from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_claim_next, review_item_submit
from tests.flywheel.evaluation.conftest import NEW, OLD, command_json

pytestmark = pytest.mark.django_db

DIMENSIONS = ("helpfulness", "honesty", "harmlessness", "instruction_following")


def review(item, user, prefer_candidate: bool):
    claim = review_item_claim_next(queue=item.queue, user=user)
    comparison = HumanComparison.objects.get(id=int(claim.item.subject_id))
    preferred = "first" if comparison.candidate_first == prefer_candidate else "second"
    decision = {"preferred": preferred, **{f"{side}_{d}": "8" for side in ("first", "second") for d in DIMENSIONS}}
    review_item_submit(item_id=claim.item.id, user=user, decision=decision)


def test_blind_reviews_map_back_to_the_models_and_agree_with_the_judge(judge, items_file, annotator, client):
    eval_set_id = command_json("eval_set_create", "--name", "s", "--file", str(items_file()))["id"]
    command_json(
        "evaluate", "--eval-set", str(eval_set_id), "--candidate", f"endpoint:{NEW}", "--baseline", f"endpoint:{OLD}"
    )
    evaluation = Evaluation.objects.get()
    assert evaluation_human_review_enqueue(evaluation_id=evaluation.id) == 3
    assert evaluation_human_review_enqueue(evaluation_id=evaluation.id) == 3  # idempotent
    items = list(ReviewItem.objects.filter(kind="eval_blind_ab").order_by("id"))
    assert len(items) == 3

    client.force_login(annotator)
    claim = review_item_claim_next(queue=items[0].queue, user=annotator)
    page = client.get(reverse("review:item", args=[claim.item.id])).content.decode()
    assert "First answer" in page and NEW not in page and OLD not in page and "endpoint:" not in page

    for item in items[:2]:
        review(item, annotator, prefer_candidate=True)
    agreement = judge_human_agreement(evaluation=evaluation)
    assert agreement["items"] == 2 and agreement["agreement"] == 1.0 and agreement["pending"] == 1
    comparison = HumanComparison.objects.exclude(winner="").first()
    assert comparison.winner == "candidate" and comparison.scores["candidate"]["honesty"] == 8
