from collections import Counter

import pytest

from flywheel.jobs.models import Job
from flywheel.labeling.models import Label, LabelTask
from flywheel.labeling.services import label_tasks_create_pending, label_tasks_dispatch
from tests.factories import session_with_turns
from tests.flywheel.labeling.conftest import distinct_conversations, label_answer
from tests.support.openai_server import Slow
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker]


def test_a_worker_killed_mid_batch_loses_no_label_and_doubles_none(
    transactional_db, start_worker, openai_server, monkeypatch, settings
):
    from flywheel.cleaning.services import cleaning_run_pending

    settings.FLYWHEEL_LABEL_BATCH_SIZE = 6  # one job of six here, one batch of six in the worker
    monkeypatch.setenv("FLYWHEEL_LLM_CONCURRENCY", "1")  # the workers read the environment when they start
    monkeypatch.setenv("FLYWHEEL_LABEL_BATCH_SIZE", "6")
    sessions = [session_with_turns(turns) for turns in distinct_conversations(6)]
    cleaning_run_pending()
    openai_server.responder = lambda request: label_answer()
    openai_server.script(*[Slow(1.0)] * 12)
    label_tasks_create_pending()
    (job_id,) = label_tasks_dispatch()

    first = start_worker(queues="llm")
    wait_for(lambda: Label.objects.count() >= 2, timeout=120, what="two labels from the first worker")
    first.kill()
    assert Label.objects.count() < 6, "the batch finished before the worker was killed"

    start_worker(queues="default,llm")  # default: the sweeper that finds the lost job
    wait_for(lambda: Job.objects.get(id=job_id).status == "succeeded", timeout=120, what="the re-driven batch")
    per_session = Counter(Label.objects.values_list("session_id", flat=True))
    assert per_session == Counter({s.id: 1 for s in sessions})
    assert set(LabelTask.objects.values_list("status", flat=True)) == {"done"}
