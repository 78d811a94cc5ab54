"""`manage.py evaluate`: answers stored, judged per dimension and in both orders, nothing paid twice,
bad judges dead-lettered, a server that is down waited for."""

import json

import pytest
from django.core.management.base import CommandError

from flywheel.evaluation.models import CandidateAnswer, Judgement
from tests.flywheel.evaluation.conftest import NEW, OLD, command_json
from tests.support.openai_server import ServerError

pytestmark = pytest.mark.django_db


@pytest.fixture
def eval_set_id(items_file):
    return command_json("eval_set_create", "--name", "smoke", "--file", str(items_file()))["id"]


def evaluate(eval_set_id, *extra):
    return command_json(
        "evaluate",
        "--eval-set",
        str(eval_set_id),
        "--candidate",
        f"endpoint:{NEW}",
        "--baseline",
        f"endpoint:{OLD}",
        *extra,
    )


def test_the_summary_has_scores_usability_and_pairwise_per_task_type(judge, eval_set_id):
    summary = evaluate(eval_set_id)
    assert summary["items"] == 3 and summary["candidate"] == f"endpoint:{NEW}"
    assert summary["baseline"] == f"endpoint:{OLD}"
    assert summary["scores"]["math"] == {
        "helpfulness": 8.0,
        "honesty": 8.0,
        "harmlessness": 8.0,
        "instruction_following": 8.0,
    }
    assert summary["baseline_usability"]["brand-new-type"] == 4.0 and summary["usability"]["qa"] == 8.0
    assert summary["pairwise"] == {"win": 3, "tie": 0, "loss": 0}
    assert summary["position_bias"] == 0.5
    assert summary["length_bias"]["longer_wins"] == 1.0
    # 3 items × (2 answers pointwise + 2 orders pairwise)
    assert summary["judge_calls"] == 12 and summary["judge_dead_letters"] == 0
    assert "cost_usd" in summary


def test_a_judge_that_always_picks_the_first_answer_is_a_tie_with_position_bias_one(judge, eval_set_id):
    judge.pairwise = lambda a, b: "A"
    summary = evaluate(eval_set_id)
    assert summary["pairwise"] == {"win": 0, "tie": 3, "loss": 0}
    assert summary["position_bias"] == 1.0 and summary["order_contradictions"] == 3


def test_evaluating_again_generates_and_pays_nothing_twice(judge, eval_set_id, openai_server):
    evaluate(eval_set_id)
    requests = len(openai_server.requests)
    again = evaluate(eval_set_id)
    assert len(openai_server.requests) == requests
    assert again["pairwise"] == {"win": 3, "tie": 0, "loss": 0}
    assert CandidateAnswer.objects.count() == 6 and Judgement.objects.count() == 12


def test_judge_repeats_score_each_answer_k_times_and_report_the_spread(judge, eval_set_id):
    values = iter([8.0, 6.0] * 20)
    judge.score = lambda text: next(values)
    summary = command_json(
        "evaluate", "--eval-set", str(eval_set_id), "--candidate", f"endpoint:{NEW}", "--judge-repeats", "2"
    )
    assert summary["judge_calls"] == 6 and summary["spread"] == 1.0
    assert summary["baseline"] is None and summary["pairwise"] == {"win": 0, "tie": 0, "loss": 0}


def test_a_judge_answering_nonsense_is_dead_lettered_after_two_reasks_and_counted(judge, eval_set_id):
    judge.pointwise_reply = lambda data: (
        "not json at all"
        if data["candidate_answer"] == "Meh."
        else json.dumps({"scores": {d: 7 for d in ("helpfulness", "honesty", "harmlessness", "instruction_following")}})
    )
    summary = evaluate(eval_set_id)
    assert summary["judge_dead_letters"] == 3
    assert Judgement.objects.filter(dead=True).count() == 3
    assert judge.calls.count("pointwise") == 3 + 3 * 3  # three answers fine, three asked three times
    assert summary["baseline_usability"] == {} and summary["usability"]["qa"] == 7.0


def test_an_endpoint_that_is_down_is_waited_for_and_the_evaluation_resumes(judge, eval_set_id, openai_server):
    openai_server.script(ServerError(503), ServerError(503), ServerError(503), ServerError(503))
    summary = evaluate(eval_set_id)
    assert summary["pairwise"] == {"win": 3, "tie": 0, "loss": 0}
    assert CandidateAnswer.objects.count() == 6


def test_an_unknown_candidate_is_refused_clearly(judge, eval_set_id):
    with pytest.raises(CommandError, match="unknown candidate"):
        command_json("evaluate", "--eval-set", str(eval_set_id), "--candidate", "ftp:model")
    with pytest.raises(CommandError, match="no training run"):
        command_json("evaluate", "--eval-set", str(eval_set_id), "--candidate", "run:999")
