from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from flywheel.accounts.roles import ENGINEERS, STAFF_ROLES, role_required
from flywheel.accounts.services import audit_record
from flywheel.jobs.models import Job
from flywheel.jobs.selectors import jobs_recent
from flywheel.jobs.services import job_cancel, job_redrive


@role_required(STAFF_ROLES)
def job_list(request):
    before = request.GET.get("before")
    jobs = jobs_recent(limit=50, kind_prefix=request.GET.get("kind") or None, before_id=int(before) if (before or "").isdigit() else None)
    return render(request, "jobs/list.html", {"jobs": jobs, "next_before": jobs[-1].id if len(jobs) == 50 else None})


@role_required(STAFF_ROLES)
def job_detail(request, job_id: int):
    return render(request, "jobs/detail.html", {"job": get_object_or_404(Job, id=job_id)})


@role_required(STAFF_ROLES)
def job_progress(request, job_id: int):
    """Polled by the progress bar (htmx) until the job finishes."""
    job = get_object_or_404(Job, id=job_id)
    return render(request, "jobs/_progress.html", {"job": job})


@require_POST
@role_required(STAFF_ROLES)
def job_cancel_view(request, job_id: int):
    job = get_object_or_404(Job, id=job_id)
    job_cancel(job_id=job.id)
    audit_record(actor=request.user, action="job.cancel", target_type="job", target_id=job.id)
    return redirect("jobs:detail", job_id=job.id)


@require_POST
@role_required(ENGINEERS)
def job_redrive_view(request, job_id: int):
    job = get_object_or_404(Job, id=job_id)
    if not job_redrive(job_id=job.id):
        raise Http404("only dead, failed or cancelled jobs can be re-driven")
    audit_record(actor=request.user, action="job.redrive", target_type="job", target_id=job.id)
    return redirect("jobs:detail", job_id=job.id)
