"""A construction job killed mid-run resumes on another worker without repeating paid calls."""

import pytest

from flywheel.construction.models import BadCase, ConstructionRun
from flywheel.construction.services import construction_run_create
from flywheel.jobs.models import Job
from tests.flywheel.construction.conftest import mine, thumbs_down_conversation
from tests.support.waiting import wait_for

BAD, GOOD, OK = "Wrong answer.", "The right answer.", "An answer."
# Per bad case: one teacher call, three pointwise judgements, two pairwise (both orders).
REQUESTS_PER_CASE = 6


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_construction_job_resumes_without_repeating_recorded_calls(script, openai_server, start_worker):
    for index in range(3):
        thumbs_down_conversation(prompt=f"Question number {index}?", answer=BAD)
    mine()
    script.teacher, script.scores, script.delay_s = [GOOD, OK], {BAD: 1, GOOD: 9, OK: 6}, 0.3
    first = start_worker()
    run = construction_run_create(limit=3, config={"n": 2})
    wait_for(lambda: len(openai_server.requests) >= REQUESTS_PER_CASE + 2, timeout=60, what="the run to be half-way")
    first.kill()
    seen_at_kill = len(openai_server.requests)
    assert Job.objects.get(id=run.job_id).status == Job.Status.RUNNING
    start_worker()
    wait_for(
        lambda: Job.objects.get(id=run.job_id).is_finished, timeout=120, what="the job to finish on the new worker"
    )
    job = Job.objects.get(id=run.job_id)
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert job.result["sft_answers"] == 3 and job.result["pairs"] == 3
    expected = 3 * REQUESTS_PER_CASE
    # At most the one request in flight at the kill is asked again.
    assert expected <= len(openai_server.requests) <= expected + 1, (seen_at_kill, len(openai_server.requests))
    assert ConstructionRun.objects.get(id=run.id).status == ConstructionRun.Status.FINISHED
    assert set(BadCase.objects.values_list("status", flat=True)) == {BadCase.Status.DONE}
