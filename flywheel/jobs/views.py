from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from flywheel.accounts.roles import STAFF_ROLES, role_required
from flywheel.jobs.models import Job
from flywheel.jobs.selectors import jobs_page
from flywheel.jobs.services import JobControlDenied, job_cancel_by, job_control_refusal, job_redrive_by
from flywheel.ui.paging import page_key


@role_required(STAFF_ROLES)
def job_list(request):
    page = jobs_page(kind_prefix=request.GET.get("kind") or None, before=page_key(request))
    return render(request, "jobs/list.html", {"jobs": page.rows, "next_before": page.next_key})


@role_required(STAFF_ROLES)
def job_detail(request, job_id: int):
    job = get_object_or_404(Job, id=job_id)
    # The buttons show only for people the job's kind lets act on it; the POST checks again.
    refusal = job_control_refusal(job=job, user=request.user, action="cancel or re-drive")
    return render(request, "jobs/detail.html", {"job": job, "may_control": not refusal, "control_refusal": refusal})


@role_required(STAFF_ROLES)
def job_progress(request, job_id: int):
    """Polled by the progress bar (htmx) until the job finishes."""
    job = get_object_or_404(Job, id=job_id)
    return render(request, "jobs/_progress.html", {"job": job})


def _refused(request, job: Job, reason: str):
    return render(request, "jobs/refused.html", {"job": job, "reason": reason}, status=403)


@require_POST
@role_required(STAFF_ROLES)
def job_cancel_view(request, job_id: int):
    job = get_object_or_404(Job, id=job_id)
    try:
        job_cancel_by(job=job, user=request.user)
    except JobControlDenied as exc:
        return _refused(request, job, str(exc))
    return redirect("jobs:detail", job_id=job.id)


@require_POST
@role_required(STAFF_ROLES)
def job_redrive_view(request, job_id: int):
    job = get_object_or_404(Job, id=job_id)
    try:
        redriven = job_redrive_by(job=job, user=request.user)
    except JobControlDenied as exc:
        return _refused(request, job, str(exc))
    if not redriven:
        raise Http404("only dead, failed or cancelled jobs can be re-driven")
    return redirect("jobs:detail", job_id=job.id)
