"""Curation pages: a dataset version's diversity (optionally beside another version) and its scores
(IFD and reward), with the forms that queue IFD scoring and reward scoring."""

from __future__ import annotations

from django.contrib import messages as flash
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from flywheel.accounts.roles import ENGINEERS, STAFF_ROLES, role_required, user_has_any_role
from flywheel.curation.forms import IfdScoreForm, RewardScoreForm
from flywheel.curation.selectors import curation_ifd_summary, curation_reward_summary, curation_version_diversity
from flywheel.curation.services import CurationError, curation_ifd_request, curation_reward_request
from flywheel.datasets.models import DatasetVersion
from flywheel.ui.charts import PALETTE


def map_chart(points: list[dict]) -> dict:
    """A Chart.js scatter of the 2-D map, one colour per cluster (static/js/app.js draws it)."""
    clusters = sorted({point["cluster"] for point in points})
    datasets = [
        {
            "label": f"cluster {cluster}",
            "pointRadius": 3,
            "backgroundColor": PALETTE[i % len(PALETTE)],
            "data": [{"x": p["x"], "y": p["y"]} for p in points if p["cluster"] == cluster],
        }
        for i, cluster in enumerate(clusters)
    ]
    return {"type": "scatter", "data": {"datasets": datasets}, "options": {"animation": False}}


@role_required(STAFF_ROLES)
def version_diversity(request, version_id: int):
    version = get_object_or_404(DatasetVersion, id=version_id)
    shown = [version]
    other_id = request.GET.get("compare", "")
    if other_id.isdigit():
        shown.append(get_object_or_404(DatasetVersion, id=int(other_id)))
    columns = []
    for shown_version in shown:
        analysis = curation_version_diversity(version=shown_version)
        columns.append(
            {
                "version": shown_version,
                "analysis": analysis,
                "chart_id": f"map-v{shown_version.id}",
                "chart": map_chart(analysis["meaning"]["map"]),
            }
        )
    return render(
        request,
        "curation/diversity.html",
        {"version": version, "columns": columns, "versions": DatasetVersion.objects.order_by("-id")[:50]},
    )


@require_http_methods(["GET", "POST"])
@role_required(STAFF_ROLES)
def version_ifd(request, version_id: int):
    version = get_object_or_404(DatasetVersion, id=version_id)
    form = IfdScoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = curation_ifd_request(
                version_id=version.id,
                model=form.cleaned_data["model"],
                user=request.user,
                batch_size=form.cleaned_data["batch_size"],
                max_len=form.cleaned_data["max_len"],
            )
        except CurationError as exc:
            form.add_error("model", str(exc))
        else:
            flash.success(request, _("IFD scoring is queued (job %(job)s) on the gpu worker.") % {"job": job.id})
            return redirect("curation:ifd", version_id=version.id)
    return _scores_page(request, version, form=form, reward_form=RewardScoreForm(prefix="reward"))


def _scores_page(request, version, *, form, reward_form):
    return render(
        request,
        "curation/ifd.html",
        {
            "version": version,
            "form": form,
            "summary": curation_ifd_summary(version=version),
            "reward_form": reward_form,
            "reward_summary": curation_reward_summary(version=version),
            "can_score_reward": user_has_any_role(request.user, ENGINEERS),
        },
    )


@require_POST
@role_required(ENGINEERS)
def version_reward(request, version_id: int):
    """Queue reward scoring (MoDS's quality stage) of the version's conversations: engineers, who
    curate; the page itself is open to ops too."""
    version = get_object_or_404(DatasetVersion, id=version_id)
    reward_form = RewardScoreForm(request.POST, prefix="reward")
    if reward_form.is_valid():
        try:
            job = curation_reward_request(
                version_id=version.id,
                model=reward_form.cleaned_data["model"],
                user=request.user,
                batch_size=reward_form.cleaned_data["batch_size"],
                max_len=reward_form.cleaned_data["max_len"],
            )
        except CurationError as exc:
            reward_form.add_error("model", str(exc))
        else:
            flash.success(request, _("Reward scoring is queued (job %(id)s) on the gpu worker.") % {"id": job.id})
            return redirect("curation:ifd", version_id=version.id)
    return _scores_page(request, version, form=IfdScoreForm(), reward_form=reward_form)
