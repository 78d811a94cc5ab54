"""Curation pages: a dataset version's diversity (optionally beside another version) and its IFD
scores, with the form that queues IFD scoring."""

from __future__ import annotations

from django.contrib import messages as flash
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from flywheel.accounts.roles import STAFF_ROLES, role_required
from flywheel.curation.forms import IfdScoreForm
from flywheel.curation.selectors import curation_ifd_summary, curation_version_diversity
from flywheel.curation.services import CurationError, curation_ifd_request
from flywheel.datasets.models import DatasetVersion


@role_required(STAFF_ROLES)
def version_diversity(request, version_id: int):
    version = get_object_or_404(DatasetVersion, id=version_id)
    columns = [(version, curation_version_diversity(version=version))]
    other_id = request.GET.get("compare", "")
    if other_id.isdigit():
        other = get_object_or_404(DatasetVersion, id=int(other_id))
        columns.append((other, curation_version_diversity(version=other)))
    return render(request, "curation/diversity.html", {"version": version, "columns": columns,
                                                         "versions": DatasetVersion.objects.order_by("-id")[:50]})


@require_http_methods(["GET", "POST"])
@role_required(STAFF_ROLES)
def version_ifd(request, version_id: int):
    version = get_object_or_404(DatasetVersion, id=version_id)
    form = IfdScoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = curation_ifd_request(version_id=version.id, model=form.cleaned_data["model"], user=request.user,
                                       batch_size=form.cleaned_data["batch_size"], max_len=form.cleaned_data["max_len"])
        except CurationError as exc:
            form.add_error("model", str(exc))
        else:
            flash.success(request, f"IFD scoring is queued (job {job.id}) on the gpu worker.")
            return redirect("curation:ifd", version_id=version.id)
    return render(request, "curation/ifd.html", {"version": version, "form": form,
                                                   "summary": curation_ifd_summary(version=version)})
