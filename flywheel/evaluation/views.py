"""Evaluation pages (ops and engineers): the list, the comparison of a candidate with its baseline,
one regression opened (both answers, the judge's reasons, the nearest training samples), and a
run's promotion (ops)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from flywheel.accounts.roles import OPERATORS, Role, role_required
from flywheel.evaluation.forms import EvaluationForm
from flywheel.evaluation.models import Evaluation
from flywheel.evaluation.selectors import evaluation_comparison, evaluations_page, regression_detail
from flywheel.evaluation.services import (
    CandidateError,
    PromotionRefused,
    evaluation_create,
    evaluation_human_review_enqueue,
    run_promote,
)
from flywheel.ui.paging import page_key

OPS_AND_ENGINEERS = frozenset({Role.OPS, Role.ENGINEER, Role.ADMIN})


@require_http_methods(["GET", "POST"])
@role_required(OPS_AND_ENGINEERS)
def index(request):
    form = EvaluationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            evaluation = evaluation_create(
                eval_set_id=data["eval_set"].id,
                candidate=data["candidate"],
                baseline=data["baseline"],
                judge_repeats=data["judge_repeats"],
                mode="offline" if data["offline"] else "judge",
                user=request.user,
            )
        except (CandidateError, ValueError) as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("evaluation:detail", evaluation_id=evaluation.id)
    return render(request, "evaluation/index.html", {**evaluations_page(before_id=page_key(request)), "form": form})


@role_required(OPS_AND_ENGINEERS)
def detail(request, evaluation_id: int):
    context = evaluation_comparison(evaluation_id=evaluation_id)
    if context is None:
        raise Http404("no such evaluation")
    return render(request, "evaluation/detail.html", context)


@role_required(OPS_AND_ENGINEERS)
def regression(request, evaluation_id: int, item_id: int):
    context = regression_detail(evaluation_id=evaluation_id, item_id=item_id)
    if context is None:
        raise Http404("no such item in this evaluation")
    return render(request, "evaluation/regression.html", context)


@require_POST
@role_required(OPERATORS)
def promote(request, run_id: int):
    override = request.POST.get("override") == "1"
    try:
        run_promote(run_id=run_id, user=request.user, override=override, note=request.POST.get("note", ""))
    except PromotionRefused as exc:
        flash.error(request, str(exc) + (" " + _("(ops may override)") if exc.regressions else ""))
    else:
        flash.success(
            request,
            _("Run %(run)s promoted (override, audited).") % {"run": run_id}
            if override
            else _("Run %(run)s promoted.") % {"run": run_id},
        )
    return redirect("runs:detail", run_id=run_id)


@require_POST
@role_required(OPS_AND_ENGINEERS)
def human_review(request, evaluation_id: int):
    if not Evaluation.objects.filter(id=evaluation_id).exists():
        raise Http404("no such evaluation")
    try:
        count = evaluation_human_review_enqueue(evaluation_id=evaluation_id)
    except CandidateError as exc:
        flash.error(request, str(exc))
    else:
        flash.success(request, _("%(count)s items are up for blind A/B review.") % {"count": count})
    return redirect("evaluation:detail", evaluation_id=evaluation_id)
