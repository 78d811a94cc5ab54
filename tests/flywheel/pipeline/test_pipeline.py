"""The processing pipeline: stages in order, and new data announced once per waiting run."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from flywheel.jobs.models import Job
from flywheel.pipeline import registry
from flywheel.pipeline.services import pipeline_announce_new_data, pipeline_run, pipeline_run_starting


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def test_stages_run_in_their_order_and_report_their_counts(monkeypatch):
    calls = []
    stages = {
        "second": registry.Stage(order=20, name="second", func=lambda progress: calls.append("second") or {"n": 2}),
        "first": registry.Stage(order=10, name="first", func=lambda progress: calls.append("first") or {"n": 1}),
    }
    monkeypatch.setattr(registry, "STAGES", stages)
    assert pipeline_run() == {"first": {"n": 1}, "second": {"n": 2}}
    assert calls == ["first", "second"]
    assert pipeline_run(only={"second"}) == {"second": {"n": 2}}


@pytest.mark.django_db
def test_many_announcements_while_a_run_waits_queue_one_run():
    for _ in range(5):
        pipeline_announce_new_data()
    assert Job.objects.filter(kind="pipeline.new_data").count() == 1


@pytest.mark.django_db
def test_data_announced_after_a_run_has_started_queues_the_next_run():
    pipeline_announce_new_data()
    Job.objects.filter(kind="pipeline.new_data").update(status=Job.Status.RUNNING, attempts=1)
    pipeline_run_starting()
    pipeline_announce_new_data()
    assert Job.objects.filter(kind="pipeline.new_data", status=Job.Status.QUEUED).count() == 1


def _ingest_and_commit(**batch) -> None:
    """ingest_batch as a request runs it, with its after-commit announcement."""
    from django.test import TestCase

    from flywheel.ingest.services import ingest_batch

    with TestCase.captureOnCommitCallbacks() as callbacks:
        ingest_batch(**batch)
    for callback in callbacks:
        callback()


def _waiting_runs() -> int:
    return Job.objects.filter(kind="pipeline.new_data", status=Job.Status.QUEUED).count()


@pytest.mark.django_db
def test_feedback_sent_after_its_session_queues_a_run_of_its_own():
    session = {
        "id": "s1",
        "messages": [
            {"id": "m1", "role": "user", "content": "Hi"},
            {"id": "m2", "role": "assistant", "content": "Hello."},
        ],
    }
    _ingest_and_commit(sessions=[session])
    Job.objects.filter(kind="pipeline.new_data").update(status=Job.Status.RUNNING, attempts=1)
    pipeline_run_starting()  # that run may read the feedback table before the thumbs-down commits
    _ingest_and_commit(feedback=[{"id": "f1", "message_id": "m2", "rating": -1}])
    assert _waiting_runs() == 1


@pytest.mark.django_db
def test_a_batch_sent_again_announces_again_in_case_its_first_announcement_was_lost():
    feedback = {"id": "f1", "message_id": "m2", "rating": -1}
    session = {"id": "s1", "messages": [{"id": "m2", "role": "assistant", "content": "Hello."}]}
    _ingest_and_commit(sessions=[session], feedback=[feedback])
    Job.objects.filter(kind="pipeline.new_data").delete()  # as if Redis was down after the commit
    pipeline_run_starting()
    _ingest_and_commit(sessions=[session], feedback=[feedback])  # the client's retry: all unchanged
    assert _waiting_runs() == 1


@pytest.mark.django_db
def test_an_announcement_whose_job_could_not_be_created_does_not_block_the_next_one(monkeypatch):
    from django.db import OperationalError

    from flywheel.pipeline import services as pipeline_services

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patched:
        patched.setattr(pipeline_services, "job_create", database_gone)  # the name announcing calls
        with pytest.raises(OperationalError):
            pipeline_announce_new_data()
    pipeline_announce_new_data()
    assert _waiting_runs() == 1
