"""Evaluation pages (ops and engineers): the list, the comparison of a candidate with its baseline,
one regression opened (both answers, the judge's reasons, the nearest training samples), a run's
promotion (ops), and evaluation sets gathered from review (engineers add sessions' reviewed
answers from the session page; a draft is frozen into an immutable set)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from flywheel.accounts.roles import ENGINEERS, OPERATORS, Role, role_required
from flywheel.evaluation.drafts import (
    eval_draft_add_from_session,
    eval_draft_freeze,
    eval_draft_item_remove,
    overlap_text,
)
from flywheel.evaluation.forms import EvaluationForm, SessionAnswerAddForm
from flywheel.evaluation.models import EvalSetDraft, Evaluation
from flywheel.evaluation.selectors import evaluation_comparison, evaluations_page, regression_detail
from flywheel.evaluation.services import (
    CandidateError,
    EvalSetError,
    PromotionRefused,
    evaluation_create,
    evaluation_human_review_enqueue,
    run_promote,
)
from flywheel.ingest.models import ChatSession
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


@require_POST
@role_required(ENGINEERS)
def session_answer_add(request, session_id: int):
    """The session panel's form. Engineers and admins, who see the session page and its panels."""
    session = get_object_or_404(ChatSession, id=session_id)
    form = SessionAnswerAddForm(request.POST)
    back = redirect("ingest:session_detail", external_id=session.external_id)
    if not form.is_valid():
        flash.error(request, _("Not added: %(errors)s") % {"errors": form.errors.as_text()})
        return back
    data = form.cleaned_data
    try:
        item, created = eval_draft_add_from_session(
            session_id=session.id,
            message_id=data["message"],
            target=data["target"],
            name=data["name"],
            task_type=data["task_type"],
            user=request.user,
        )
    except EvalSetError as exc:
        flash.error(request, _("Not added: %(reason)s") % {"reason": exc})
        return back
    if created:
        flash.success(request, _("Added to the draft “%(name)s”.") % {"name": item.draft.name})
    else:
        flash.info(request, _("That conversation is already in the draft “%(name)s”.") % {"name": item.draft.name})
    if item.overlap:
        flash.warning(
            request, _("This conversation overlaps training data: %(where)s.") % {"where": overlap_text(item.overlap)}
        )
    return back


@role_required(OPS_AND_ENGINEERS)
def draft_detail(request, draft_id: int):
    draft = get_object_or_404(EvalSetDraft.objects.select_related("base", "latest"), id=draft_id)
    items = list(draft.items.select_related("session", "added_by"))
    for item in items:
        item.overlap_text = overlap_text(item.overlap)
    return render(request, "evaluation/draft.html", {"draft": draft, "items": items})


@require_POST
@role_required(OPS_AND_ENGINEERS)
def draft_freeze(request, draft_id: int):
    try:
        eval_set, created = eval_draft_freeze(draft_id=draft_id, user=request.user)
    except EvalSetError as exc:
        flash.error(request, str(exc))
    else:
        if created:
            flash.success(request, _("Frozen as evaluation set #%(id)s.") % {"id": eval_set.id})
        else:
            flash.info(request, _("These items are evaluation set #%(id)s already.") % {"id": eval_set.id})
    return redirect("evaluation:draft", draft_id=draft_id)


@require_POST
@role_required(OPS_AND_ENGINEERS)
def draft_item_remove(request, item_id: int):
    try:
        draft_id = eval_draft_item_remove(item_id=item_id, user=request.user)
    except EvalSetError as exc:
        raise Http404(str(exc)) from exc
    flash.success(request, _("Item removed from the draft."))
    return redirect("evaluation:draft", draft_id=draft_id)
