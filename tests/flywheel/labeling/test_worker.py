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


def test_a_worker_labels_offline_with_the_threshold_it_was_given_and_twice_changes_nothing(
    transactional_db, start_worker, monkeypatch, settings
):
    from flywheel.cleaning.services import cleaning_run_pending
    from flywheel.jobs.services import job_create

    monkeypatch.setenv("OPENAI_BASE_URL", "")  # no LLM: the worker labels offline
    monkeypatch.setenv("FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE", "0.6")
    sure = session_with_turns([("user", "计算 128 乘以 46 等于多少？"), ("assistant", "5888")])
    unsure = session_with_turns([("user", "帮我看看这个"), ("assistant", "好的，请发给我。")])
    cleaning_run_pending()
    first = job_create(kind="labeling.run_pending", payload={})
    start_worker(queues="default")
    wait_for(lambda: Job.objects.get(id=first.id).status == "succeeded", timeout=180, what="offline labeling job")
    second = job_create(kind="labeling.run_pending", payload={})
    wait_for(lambda: Job.objects.get(id=second.id).status == "succeeded", timeout=120, what="the second run")
    labels = {label.session_id: label for label in Label.objects.all()}
    assert Label.objects.count() == 2 and {label.source for label in labels.values()} == {"offline"}
    assert (labels[sure.id].task_type, labels[sure.id].uncertain) == ("math", False)
    assert labels[unsure.id].uncertain and labels[unsure.id].confidence < 0.6
