"""Jobs on real Celery worker processes: completion, a SIGKILL mid-job, lost messages,
retries and cancellation. The job kind is the tests' own (tests/support/selftest)."""

from __future__ import annotations

import pytest

from flywheel.jobs.models import Job
from flywheel.jobs.services import job_cancel, job_claim, job_create, job_execute, jobs_sweep
from tests.support.selftest.models import SelfTestMark
from tests.support.waiting import wait_for


def reload(job: Job) -> Job:
    return Job.objects.get(id=job.id)


@pytest.mark.django_db
def test_only_one_of_two_claims_on_a_queued_job_wins():
    job = Job.objects.create(kind="tests.selftest", payload={})
    assert job_claim(job_id=job.id, worker="a") is True
    assert job_claim(job_id=job.id, worker="b") is False


@pytest.mark.django_db
def test_a_finished_job_runs_no_second_time_when_its_message_is_delivered_again():
    job = Job.objects.create(kind="tests.selftest", payload={"steps": 1, "step_seconds": 0})
    assert job_execute(job_id=job.id).status == "succeeded"
    assert job_execute(job_id=job.id).status == "skipped"
    assert SelfTestMark.objects.filter(job_id=job.id).count() == 1 and reload(job).attempts == 1


@pytest.mark.django_db
def test_a_retryable_failure_puts_the_job_back_in_its_queue_with_a_delay():
    job = Job.objects.create(kind="tests.selftest", payload={"steps": 1, "step_seconds": 0, "fail_attempts": 1})
    outcome = job_execute(job_id=job.id)
    assert outcome.status == "retry" and outcome.retry_after_s == 0.5
    assert reload(job).status == "queued" and "on purpose" in reload(job).error
    assert job_execute(job_id=job.id).status == "succeeded"


@pytest.mark.django_db
def test_an_unknown_job_kind_is_refused_when_the_job_is_created():
    from flywheel.jobs.registry import PermanentJobError

    with pytest.raises(PermanentJobError, match="no handler"):
        job_create(kind="nobody.handles.this")


@pytest.mark.django_db
def test_a_cancelled_queued_job_never_runs():
    job = Job.objects.create(kind="tests.selftest", payload={})
    job_cancel(job_id=job.id)
    assert reload(job).status == "cancelled"
    assert job_execute(job_id=job.id).status == "skipped"


@pytest.mark.django_db
def test_requests_for_the_same_waiting_work_share_one_job():
    first = job_create(kind="tests.selftest", dedupe_key="same-work")
    second = job_create(kind="tests.selftest", dedupe_key="same-work")
    assert first.id == second.id and Job.objects.count() == 1


@pytest.mark.worker
def test_a_real_worker_runs_a_job_to_completion_with_progress(celery_worker):
    job = job_create(kind="tests.selftest", payload={"steps": 3, "step_seconds": 0.2})
    done = wait_for(lambda: reload(job).is_finished and reload(job), timeout=60, what="the job to finish")
    assert done.status == "succeeded", done.error
    assert (done.progress_done, done.progress_total) == (3, 3)
    assert SelfTestMark.objects.filter(job_id=job.id).count() == 1


@pytest.mark.worker
def test_a_worker_killed_mid_job_leaves_the_job_done_exactly_once_after_a_new_worker_starts(start_worker):
    first = start_worker()
    job = job_create(kind="tests.selftest", payload={"steps": 8, "step_seconds": 0.5})
    wait_for(lambda: reload(job).progress_done >= 2, timeout=60, what="the job to be under way")
    first.kill()
    assert reload(job).status == "running" and not SelfTestMark.objects.exists()
    start_worker()  # its beat sweeps every second and hands the job over once the lease expires
    done = wait_for(lambda: reload(job).is_finished and reload(job), timeout=90, what="the job to be re-run")
    assert done.status == "succeeded" and done.attempts == 2
    assert SelfTestMark.objects.filter(job_id=job.id).count() == 1


@pytest.mark.worker
def test_a_job_whose_broker_message_was_lost_is_sent_again_by_the_sweeper(celery_worker, settings):
    job = Job.objects.create(kind="tests.selftest", payload={"steps": 1, "step_seconds": 0})  # never sent
    settings.FLYWHEEL_JOB_REQUEUE_AFTER_S = 0
    assert jobs_sweep()["requeued_queued"] == 1
    done = wait_for(lambda: reload(job).is_finished and reload(job), timeout=60, what="the swept job")
    assert done.status == "succeeded"


@pytest.mark.worker
def test_a_job_that_fails_then_succeeds_is_retried_by_the_worker(celery_worker):
    job = job_create(kind="tests.selftest", payload={"steps": 1, "step_seconds": 0, "fail_attempts": 2})
    done = wait_for(lambda: reload(job).is_finished and reload(job), timeout=60, what="the retried job")
    assert done.status == "succeeded" and done.attempts == 3


@pytest.mark.django_db
def test_a_job_asked_to_stop_whose_worker_died_is_ended_by_the_sweeper():
    from datetime import timedelta

    from django.utils import timezone

    job = Job.objects.create(kind="tests.selftest", payload={})
    assert job_claim(job_id=job.id, worker="gone")
    job_cancel(job_id=job.id)
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs_sweep()["cancelled"] == 1
    assert reload(job).status == "cancelled" and reload(job).finished_at is not None


@pytest.mark.django_db
def test_a_running_job_whose_lease_ran_out_is_handed_to_the_next_worker_by_the_sweeper(settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.FLYWHEEL_TASK_MODE = "sync"  # the re-sent job runs inline, in this test's transaction
    job = Job.objects.create(kind="tests.selftest", payload={"steps": 1, "step_seconds": 0})
    assert job_claim(job_id=job.id, worker="gone")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs_sweep()["requeued_running"] == 1
    assert reload(job).status == "succeeded" and reload(job).attempts == 2


def test_the_self_test_job_kind_and_its_table_are_not_part_of_the_product():
    import flywheel.settings as product

    assert "tests.support.selftest" not in product.INSTALLED_APPS
    assert not any(app.startswith("tests.") for app in product.INSTALLED_APPS)


@pytest.mark.worker
def test_beat_sweeps_for_lost_jobs_while_every_worker_is_busy_with_a_long_one(start_worker, tmp_path):
    import subprocess
    import sys
    from datetime import timedelta

    from django.utils import timezone

    from tests.support.workers import REPO

    worker = start_worker(queues="default", beat=False)  # one process
    # Beat on its own, as deployed (docker-compose.yml).
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "flywheel", "beat", "-s", str(tmp_path / "schedule"), "-l", "INFO"],
        cwd=REPO,
        env=worker.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        long = job_create(kind="tests.selftest", payload={"steps": 240, "step_seconds": 0.5})
        wait_for(lambda: reload(long).status == "running", timeout=60, what="the long job to start")
        stale = timezone.now() - timedelta(hours=1)
        # Its broker message was lost (Redis restarted): only the sweeper sends it again.
        lost = Job.objects.create(kind="tests.selftest", payload={"steps": 1, "step_seconds": 0}, enqueued_at=stale)
        wait_for(lambda: reload(lost).enqueued_at > stale, timeout=60, what="the sweeper to send the lost job again")
        assert reload(long).status == "running"  # the sweep did not wait for the worker to be free
        job_cancel(job_id=long.id)
    finally:
        beat.kill()
        beat.wait(timeout=30)


def test_a_heartbeat_that_loses_its_database_connection_keeps_beating(transactional_db, settings, monkeypatch):
    from django.db import OperationalError
    from django.utils import timezone

    from flywheel.jobs import services

    settings.FLYWHEEL_JOB_LEASE_S = 3  # a beat every second
    job = Job.objects.create(kind="tests.selftest", payload={})
    assert job_claim(job_id=job.id, worker="w")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now())
    beats, renew = [], services._lease_deadline

    def first_beat_loses_the_database():
        beats.append(1)
        if len(beats) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return renew()

    monkeypatch.setattr(services, "_lease_deadline", first_beat_loses_the_database)
    heartbeat = services._Heartbeat(job.id, "w")
    heartbeat.start()
    try:
        wait_for(lambda: reload(job).lease_expires_at > timezone.now(), timeout=30, what="a beat after the failed one")
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=10)
