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
