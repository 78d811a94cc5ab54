from django.shortcuts import render

from flywheel.accounts.roles import STAFF_ROLES, role_required
from flywheel.dashboard.selectors import dashboard_figures
from flywheel.dashboard.services import stats_are_behind, stats_rollup_request
from flywheel.jobs.selectors import jobs_recent


@role_required(STAFF_ROLES)
def index(request):
    behind = stats_are_behind()
    if behind:
        stats_rollup_request()
    return render(
        request, "dashboard/index.html", {**dashboard_figures(), "behind": behind, "jobs": jobs_recent(limit=10)}
    )
