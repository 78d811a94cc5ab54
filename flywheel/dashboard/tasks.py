from flywheel.dashboard.services import stats_rollup
from flywheel.jobs.registry import job_handler
from flywheel.jobs.services import JobContext


@job_handler("dashboard.rollup", queue="default")
def rollup(ctx: JobContext) -> dict:
    return stats_rollup()
