"""The Celery side of jobs: one thin task runs any job kind by id; one sweeps lost jobs."""

import time

from celery import shared_task

from flywheel.jobs.models import SelfTestMark
from flywheel.jobs.registry import RetryableJobError
from flywheel.jobs.services import JOB_RUN_TASK, JobContext, job_dispatch, job_execute
from flywheel.jobs.services import jobs_sweep as jobs_sweep_service


@shared_task(name=JOB_RUN_TASK, acks_late=True, reject_on_worker_lost=True)
def job_run(job_id: int) -> str:
    outcome = job_execute(job_id=job_id)
    if outcome.retry_after_s is not None:
        job_dispatch(job_id=job_id, countdown=outcome.retry_after_s)
    return outcome.status


@shared_task(name="flywheel.jobs.tasks.jobs_sweep")
def jobs_sweep() -> dict:
    return jobs_sweep_service()


def selftest(ctx: JobContext) -> dict:
    """Checks that workers pick jobs up, report progress and finish them exactly once."""
    steps = int(ctx.payload.get("steps", 5))
    step_seconds = float(ctx.payload.get("step_seconds", 0.5))
    if ctx.attempt <= int(ctx.payload.get("fail_attempts", 0)):
        raise RetryableJobError(f"failing attempt {ctx.attempt} on purpose", retry_after_s=0.5)
    for step in range(steps):
        time.sleep(step_seconds)
        ctx.progress(step + 1, steps, note=f"step {step + 1} of {steps}")
    SelfTestMark.objects.get_or_create(job_id=ctx.job_id)
    return {"steps": steps, "attempt": ctx.attempt}
