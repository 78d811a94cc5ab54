"""The evaluation as a job on the gpu queue: progress on the job row, a server that is down puts it
back in the queue (the evaluation waits), and the rerun resumes without asking again."""

import pytest

from flywheel.evaluation.models import Evaluation
from flywheel.evaluation.services import eval_set_create, evaluation_create
from flywheel.jobs.models import Job
from flywheel.jobs.services import job_execute
from tests.flywheel.evaluation.conftest import ITEMS, NEW, OLD
from tests.support.openai_server import ServerError

pytestmark = pytest.mark.django_db


def test_a_down_server_requeues_the_job_and_the_rerun_resumes_where_it_stopped(
    judge, openai_server, settings, django_capture_on_commit_callbacks
):
    settings.FLYWHEEL_TASK_MODE = "sync"
    eval_set, _ = eval_set_create(name="s", items=ITEMS, source="upload")
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluation_create(eval_set_id=eval_set.id, candidate=f"endpoint:{NEW}", baseline=f"endpoint:{OLD}")
    job = Job.objects.get(id=evaluation.job_id)
    assert job.queue == "gpu" and job.kind == "evaluation.run" and job.progress_total == 3

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
