"""The evaluation as jobs: a local model's answers on the gpu queue, endpoint answers and judging on
the llm queue (they are LLM calls); progress on the job row; a server that is down puts the job back
in the queue (the evaluation waits), and the rerun resumes without asking again."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from flywheel.evaluation.models import CandidateAnswer, Evaluation
from flywheel.evaluation.services import eval_set_create, evaluation_create
from flywheel.jobs.models import Job
from flywheel.jobs.registry import HANDLERS
from flywheel.jobs.services import job_execute
from tests.flywheel.evaluation.conftest import ITEMS, NEW, OLD
from tests.support.openai_server import ServerError

pytestmark = pytest.mark.django_db


def test_generation_runs_on_the_gpu_queue_and_judging_on_the_llm_queue():
    assert HANDLERS["evaluation.generate"].queue == "gpu"
    assert HANDLERS["evaluation.judge"].queue == "llm"


def test_a_down_server_requeues_the_job_and_the_rerun_resumes_where_it_stopped(
    judge, openai_server, settings, django_capture_on_commit_callbacks
):
    settings.FLYWHEEL_TASK_MODE = "sync"
    eval_set, _ = eval_set_create(name="s", items=ITEMS, source="upload")
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluation_create(eval_set_id=eval_set.id, candidate=f"endpoint:{NEW}", baseline=f"endpoint:{OLD}")
    job = Job.objects.get(id=evaluation.job_id)
    # Two endpoints: nothing for the gpu worker, the whole evaluation is LLM calls.
    assert job.queue == "llm" and job.kind == "evaluation.judge" and job.progress_total == 3

    # The first eight requests are answered, then the server is down (503, twice per request).
    openai_server.script(*([None] * 8), *([ServerError(503)] * 2))
    assert job_execute(job_id=job.id).status == "retry"
    assert Job.objects.get(id=job.id).status == Job.Status.QUEUED
    assert Evaluation.objects.get(id=evaluation.id).status == Evaluation.Status.WAITING

    before = len(judge.calls)
    assert job_execute(job_id=job.id).status == "succeeded"
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.DONE
    assert evaluation.summary["pairwise"] == {"win": 3, "tie": 0, "loss": 0}
    # 6 answers + 12 verdicts in all; the 8 asked before the outage were not asked again
    assert len(judge.calls) - before == 6 + 12 - 8
    assert Job.objects.get(id=job.id).progress_done == 3


def test_a_local_model_answers_on_the_gpu_queue_then_one_judging_job_follows_on_the_llm_queue(
    judge, settings, django_capture_on_commit_callbacks
):
    from training.contract import tiny_model_ensure

    settings.FLYWHEEL_TASK_MODE = "sync"
    model = tiny_model_ensure(Path(django_settings.VAR_DIR) / "models" / "tiny-test")
    eval_set, _ = eval_set_create(name="s", items=ITEMS, source="upload")
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluation_create(eval_set_id=eval_set.id, candidate=f"model:{model}", baseline=f"endpoint:{OLD}")
    generation = Job.objects.get(id=evaluation.job_id)
    assert generation.queue == "gpu" and generation.kind == "evaluation.generate"

    with django_capture_on_commit_callbacks(execute=False):
        assert job_execute(job_id=generation.id).status == "succeeded"
    # The gpu job generated the model's answers only: the endpoint and the judge were not asked.
    assert CandidateAnswer.objects.filter(candidate__startswith="model:").count() == 3
    assert judge.calls == []
    judging = Evaluation.objects.get(id=evaluation.id).job
    assert judging.queue == "llm" and judging.kind == "evaluation.judge"

    # A rerun of the generation job (a worker killed after it finished) queues no second judging job.
    Job.objects.filter(id=generation.id).update(status=Job.Status.QUEUED)
    with django_capture_on_commit_callbacks(execute=False):
        job_execute(job_id=generation.id)
    assert Job.objects.filter(kind="evaluation.judge").count() == 1

    with django_capture_on_commit_callbacks(execute=False):
        assert job_execute(job_id=judging.id).status == "succeeded"
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.DONE and evaluation.summary["items"] == 3
    assert "answer:" + OLD in judge.calls and not any(call == "answer:" + str(model) for call in judge.calls)
