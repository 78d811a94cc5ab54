"""Dataset pages for engineers and ops: versions, the build form, a build's progress, a version
(manifest, samples, runs, exports), a sample with its lineage, and the diff of two versions."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from flywheel.accounts.roles import STAFF_ROLES, role_required
from flywheel.datasets.exports import FORMATS, SPLITS, export_check, export_filename, export_lines
from flywheel.datasets.forms import BuildForm
from flywheel.datasets.models import DatasetBuild, DatasetSample, DatasetVersion
from flywheel.datasets.selectors import (
    dataset_builds_recent,
    dataset_samples_page,
    dataset_version_diff,
    dataset_versions_for_choice,
    dataset_versions_page,
)
from flywheel.datasets.services import dataset_build_request
from flywheel.ui.charts import bar_chart
from flywheel.ui.paging import page_key


@role_required(STAFF_ROLES)
def index(request):
    page = dataset_versions_page(before_id=page_key(request))
    return render(request, "datasets/index.html", {**page, "builds": dataset_builds_recent(limit=8)})


@require_http_methods(["GET", "POST"])
@role_required(STAFF_ROLES)
def build_new(request):
    form = BuildForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            build = dataset_build_request(config=form.config(), name=form.cleaned_data["name"], user=request.user)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            flash.success(request, _("The build is queued; this page follows it."))
            return redirect("datasets:build", build_id=build.id)
    return render(request, "datasets/build_new.html", {"form": form})


@role_required(STAFF_ROLES)
def build_detail(request, build_id: int):
    build = get_object_or_404(DatasetBuild.objects.select_related("job", "version"), id=build_id)
    # The status block polls this page (htmx) until the build has finished.
    template = "datasets/_build_status.html" if request.htmx else "datasets/build.html"
    return render(request, template, {"build": build})


@role_required(STAFF_ROLES)
def version_detail(request, version_id: int):
    version = get_object_or_404(DatasetVersion.objects.select_related("created_by"), id=version_id)
    counts = version.manifest.get("counts", {})
    by_task_type = counts.get("by_task_type", {})
    chart = (
        bar_chart(
            list(by_task_type),
            {
                _("train"): [c.get("train", 0) for c in by_task_type.values()],
                _("eval"): [c.get("eval", 0) for c in by_task_type.values()],
                _("pairs"): [c.get("pairs_train", 0) + c.get("pairs_eval", 0) for c in by_task_type.values()],
            },
            stacked=True,
        )
        if by_task_type
        else None
    )
    runs = list(version.runs.select_related("created_by").order_by("-id")[:20]) if hasattr(version, "runs") else []
    return render(
        request,
        "datasets/version.html",
        {
            "version": version,
            "manifest": version.manifest,
            "counts": counts,
            "chart": chart,
            "samples": dataset_samples_page(version=version, size=10)["samples"],
            "runs": runs,
            "formats": [(name, kind, title) for name, (kind, _ext, title) in FORMATS.items()],
            "others": [v for v in dataset_versions_for_choice(limit=50) if v.id != version.id],
        },
    )


@role_required(STAFF_ROLES)
def version_samples(request, version_id: int):
    version = get_object_or_404(DatasetVersion, id=version_id)
    split = request.GET.get("split", "") if request.GET.get("split") in SPLITS else ""
    kind = request.GET.get("kind", "") if request.GET.get("kind") in ("sft", "pair") else ""
    task_type = request.GET.get("task_type", "")[:64]
    page = dataset_samples_page(
        version=version,
        split="" if split == "all" else split,
        kind=kind,
        task_type=task_type,
        after_position=page_key(request, "after"),
    )
    return render(
        request,
        "datasets/samples.html",
        {"version": version, "split": split, "kind": kind, "task_type": task_type, **page},
    )


@role_required(STAFF_ROLES)
def sample_detail(request, version_id: int, position: int):
    sample = get_object_or_404(
        DatasetSample.objects.select_related("version"), version_id=version_id, position=position
    )
    return render(request, "datasets/sample.html", {"sample": sample, "version": sample.version})


@role_required(STAFF_ROLES)
def version_diff(request, version_id: int):
    version = get_object_or_404(DatasetVersion, id=version_id)
    other_id = page_key(request, "against")
    if other_id is None:
        raise Http404(_("choose a version to compare with (?against=ID)"))
    other = get_object_or_404(DatasetVersion, id=other_id)
    return render(
        request, "datasets/diff.html", {"old": other, "new": version, **dataset_version_diff(old=other, new=version)}
    )


@role_required(STAFF_ROLES)
def version_export(request, version_id: int):
    """Streams the export: memory stays flat however big the version is."""
    version = get_object_or_404(DatasetVersion, id=version_id)
    format_name, split = request.GET.get("format", "openai"), request.GET.get("split", "train")
    try:
        export_check(format_name, split)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    response = StreamingHttpResponse(
        export_lines(version=version, format_name=format_name, split=split),
        content_type="application/x-ndjson; charset=utf-8",
    )
    filename = export_filename(version=version, format_name=format_name, split=split)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
