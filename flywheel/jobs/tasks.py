"""The Celery side of jobs: one thin task runs any job kind by id; one sweeps lost jobs."""

from celery import shared_task

from flywheel.jobs.services import JOB_RUN_TASK, job_dispatch, job_execute
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
