"""The embedded runner (FLYWHEEL_TASK_MODE=thread) resumes, when the web process starts, the jobs
a process that is gone left queued: those already due at once, those due soon at their due time,
each run once even when two web processes start together. Real gunicorn workers on the test
database; the sweeper's delay is the product's default (600 s), so only the start-up can have
sent them within the wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from flywheel.jobs.models import Job
from tests.support.selftest.models import SelfTestMark
from tests.support.waiting import wait_for
from tests.support.workers import REPO
from tests.support.workers import test_database_url as database_url


@pytest.fixture
def web_processes(tmp_path):
    started = []

    def start(workers: int) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",  # the test-only job kind
            "DATABASE_URL": database_url(),
            "FLYWHEEL_TASK_MODE": "thread",
            "FLYWHEEL_JOB_REQUEUE_AFTER_S": "600",
            "FLYWHEEL_SWEEP_INTERVAL_S": "600",
        }
        log = open(tmp_path / f"gunicorn-{len(started)}.log", "wb")
        command = [sys.executable, "-m", "gunicorn", "flywheel.wsgi:application", "--workers", str(workers)]
        command += ["--bind", f"unix:{tmp_path / f'web-{len(started)}.sock'}"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def reload(job: Job) -> Job:
    return Job.objects.get(id=job.id)


@pytest.mark.django_db(transaction=True)
def test_jobs_left_queued_by_a_dead_process_run_once_when_the_web_process_starts(web_processes):
    now = timezone.now()
    payload = {"steps": 1, "step_seconds": 0}

    def left_queued(due):
        # As a web process that died leaves them: on the row, with no timer anywhere.
        return Job.objects.create(kind="tests.selftest", payload=payload, enqueued_at=due)

    overdue = [left_queued(now - timedelta(seconds=5)) for _ in range(4)]
    never_sent = left_queued(None)
    due_soon = left_queued(now + timedelta(seconds=3))  # e.g. a review.finalize at the end of an undo period
    due_later = left_queued(now + timedelta(hours=2))  # past the horizon: the sweeper's
    cancelled = left_queued(now - timedelta(seconds=5))
    Job.objects.filter(id=cancelled.id).update(status=Job.Status.CANCELLED, cancel_requested=True)

    web_processes(workers=2)  # two processes start together and both resume what they find
    resumed = [*overdue, never_sent, due_soon]
    wait_for(lambda: all(reload(job).is_finished for job in resumed), timeout=120, what="the left-behind jobs to run")
    for job in resumed:
        job = reload(job)
        assert (job.status, job.attempts) == ("succeeded", 1), job.error
        assert SelfTestMark.objects.filter(job_id=job.id).count() == 1
    assert reload(due_soon).started_at >= due_soon.enqueued_at  # not before it was due
    assert reload(due_later).status == "queued" and reload(due_later).attempts == 0
    assert reload(cancelled).status == "cancelled" and not SelfTestMark.objects.filter(job_id=cancelled.id).exists()
