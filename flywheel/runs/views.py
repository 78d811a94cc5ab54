"""Training run pages: the list, the launch form (ops), a run's live page with its charts, and
cancel / resume (ops). Everything is read from the database, which the gpu worker keeps current."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from flywheel.accounts.roles import OPERATORS, STAFF_ROLES, role_required
from flywheel.datasets.models import DatasetVersion
from flywheel.runs.charts import CHARTS, run_chart
from flywheel.runs.forms import RunForm, model_directories
from flywheel.runs.hyperparameters import SMALL_VERTICAL_SET
from flywheel.runs.selectors import run_detail, run_plan, runs_page
from flywheel.runs.services import training_run_cancel, training_run_create, training_run_resume
from flywheel.ui.paging import page_key


def _run_or_404(run_id: int):
    run = run_detail(run_id=run_id)
    if run is None:
        raise Http404("no such run")
    return run


@role_required(STAFF_ROLES)
def index(request):
    return render(request, "runs/index.html", runs_page(before_id=page_key(request)))


@require_http_methods(["GET", "POST"])
@role_required(OPERATORS)
def run_new(request):
    version_id = request.GET.get("version", "")
    version = DatasetVersion.objects.filter(id=int(version_id)).first() if version_id.isdigit() else None
    form = RunForm(request.POST or None, version=version)
    plan, plan_notice = None, ""
    if request.method == "POST" and form.is_valid():
        arguments = form.plan_arguments()
        try:
            plan = run_plan(
                strategy=arguments["strategy"],
                version_ids=[form.cleaned_data["dataset_version"], *arguments["other_version_ids"]],
                specialist_task_types=arguments["specialist_task_types"],
                dmt_k=arguments["dmt_k"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            # A plan of stages is launched only once its stages have been shown (and not changed since).
            unseen = plan is not None and form.cleaned_data.get("plan_key") != plan["key"]
            if "preview" not in request.POST and not unseen:
                try:
                    run = training_run_create(
                        dataset_version_id=form.cleaned_data["dataset_version"],
                        base_model_path=form.cleaned_data["base_model_path"],
                        hyperparameters=form.hyperparameters(),
                        distributed=form.cleaned_data["distributed"],
                        name=form.cleaned_data["name"],
                        user=request.user,
                        **arguments,
                    )
                except ValueError as exc:
                    form.add_error(None, str(exc))
                else:
                    # Not "queued for a gpu worker": a message stays on the page after the run has
                    # started; the status block below says whether it is still waiting.
                    flash.success(request, _("Run #%(id)s is launched.") % {"id": run.id})
                    return redirect("runs:detail", run_id=run.id)
            elif unseen and "preview" not in request.POST:
                plan_notice = "Here is the plan these choices give: check its stages, then launch."
    return render(
        request,
        "runs/new.html",
        {
            "form": form,
            "model_directories": model_directories(),
            "small_set": SMALL_VERTICAL_SET,
            "plan": plan,
            "plan_notice": plan_notice,
        },
    )


CHART_TITLES = {"loss": "Loss per task type", "lr": "Learning rate", "throughput": "Throughput"}


def _context(run) -> dict:
    staged = len((run.plan or {}).get("stages") or []) > 1
    return {
        "run": run,
        "charts": [
            {
                "name": name,
                "title": CHART_TITLES[name] + (" across stages" if staged else ""),
                "element_id": f"run-{name}-chart",
                "config": run_chart(run=run, name=name),
            }
            for name in CHARTS
        ],
    }


@role_required(STAFF_ROLES)
def run_page(request, run_id: int):
    return render(request, "runs/detail.html", _context(_run_or_404(run_id)))


@role_required(STAFF_ROLES)
def run_status(request, run_id: int):
    """The status block; it polls itself (htmx) until the run has finished."""
    return render(request, "runs/_status.html", {"run": _run_or_404(run_id)})


@role_required(STAFF_ROLES)
def run_chart_json(request, run_id: int, name: str):
    if name not in CHARTS:
        raise Http404("no such chart")
    return JsonResponse(run_chart(run=_run_or_404(run_id), name=name))


def _run_action(request, run_id: int, action, done: str):
    run = _run_or_404(run_id)
    try:
        action(run=run, user=request.user)
    except ValueError as exc:
        flash.error(request, str(exc))
    else:
        flash.success(request, done)
    return redirect("runs:detail", run_id=run.id)


@require_POST
@role_required(OPERATORS)
def run_cancel(request, run_id: int):
    return _run_action(request, run_id, training_run_cancel, _("Cancel requested: the trainer stops at its next step."))


@require_POST
@role_required(OPERATORS)
def run_resume(request, run_id: int):
    return _run_action(
        request, run_id, training_run_resume, _("Resumed: the trainer continues from its latest checkpoint.")
    )
