"""A real Celery worker runs the re-clean job: progress lands in the job row, the work is
done once, and a second job changes nothing."""

from __future__ import annotations

import pytest

from flywheel.cleaning.models import RuleResult, SessionCleaning
from flywheel.cleaning.services import cleaning_rerun_request
from flywheel.jobs.models import Job
from tests.factories import session_with_turns
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker]


def _finished(job_id: int) -> Job | None:
    job = Job.objects.get(id=job_id)
    return job if job.is_finished else None


def test_a_worker_cleans_every_session_with_progress_in_the_job_row(start_worker):
    start_worker(extra_env={"FLYWHEEL_CLEANING_BATCH_SIZE": "3"})  # several keyset batches
    for i in range(7):
        session_with_turns(
            [("user", f"问题{i}：怎么重置密码？邮箱 user{i}@example.com"), ("assistant", "点击“忘记密码”即可。")],
            app="shop",
        )
    job = cleaning_rerun_request(app="shop")
    job = wait_for(lambda: _finished(job.id), timeout=120, what="the cleaning job to finish")
    assert job.status == "succeeded", job.error
    assert (job.progress_done, job.progress_total) == (7, 7)
    assert job.result["sessions"] == 7
    assert SessionCleaning.objects.filter(app="shop").count() == 7

    results = RuleResult.objects.count()
    again = cleaning_rerun_request(app="shop")
    again = wait_for(lambda: _finished(again.id), timeout=120, what="the second cleaning job to finish")
    assert again.status == "succeeded" and again.result.get("sessions", 0) == 0
    assert RuleResult.objects.count() == results
