from flywheel.dashboard.services import stats_rollup
from flywheel.jobs.services import JobContext


def rollup(ctx: JobContext) -> dict:
    return stats_rollup()
