"""Engineers' pages: bad cases, construction runs (jobs with budgets and usage), synthesis."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from flywheel.accounts.roles import ENGINEERS, role_required
from flywheel.construction import selectors
from flywheel.construction.charts import length_bias_chart, refusals_chart
from flywheel.construction.forms import BadCaseSettingsForm, RunStartForm, SeedForm, SynthesisForm
from flywheel.construction.models import BadCase, ConstructionRun, SyntheticSample
from flywheel.construction.selection import REFUSAL_REASONS
from flywheel.construction.services import (
    badcase_proposed_tests_accept,
    badcase_reset,
    badcase_settings_save,
    construction_run_create,
)
from flywheel.construction.synthesis import seed_prompt_add, synthesis_run_create
from flywheel.llm.client import llm_is_configured, model_for, usage_for_job
from flywheel.ui.paging import page_key


def _form_errors(form) -> str:
    """A form's errors on one line, each after its field's label (in the page's language)."""
    return "; ".join(
        f"{form.fields[name].label or name}: {' '.join(errors)}" if name in form.fields else " ".join(errors)
        for name, errors in form.errors.items()
    )


@role_required(ENGINEERS)
def index(request):
    reason = request.GET.get("reason", "")
    status = request.GET.get("status", "")
    cases = selectors.badcases_page(reason=reason, status=status, before_id=page_key(request))
    return render(
        request,
        "construction/index.html",
        {
            "cases": cases,
            "reason": reason,
            "status": status,
            "statuses": BadCase.Status.choices,
            "reasons": selectors.badcase_reason_sources(),
            "next_before": cases.next_key,
            "runs": selectors.runs_page(size=5),
            "form": RunStartForm(),
            "llm_configured": llm_is_configured(),
        },
    )


@role_required(ENGINEERS)
def badcase_detail(request, bad_case_id: int):
    case = get_object_or_404(BadCase.objects.select_related("session", "message", "run"), id=bad_case_id)
    verifier = case.verifier or {}
    form = BadCaseSettingsForm(
        initial={
            "verifier_kind": verifier.get("kind", ""),
            "expected": verifier.get("expected", ""),
            "tests": verifier.get("tests", ""),
            "reference_text": case.reference_text,
            "task_type": case.task_type,
        }
    )
    return render(
        request,
        "construction/badcase.html",
        {"case": case, "form": form, "refusal_reasons": REFUSAL_REASONS, **selectors.badcase_detail(bad_case=case)},
    )


@require_POST
@role_required(ENGINEERS)
def badcase_settings(request, bad_case_id: int):
    case = get_object_or_404(BadCase, id=bad_case_id)
    form = BadCaseSettingsForm(request.POST)
    if form.is_valid():
        try:
            badcase_settings_save(
                bad_case_id=case.id,
                user=request.user,
                verifier=form.verifier(),
                reference_text=form.cleaned_data["reference_text"],
                task_type=form.cleaned_data["task_type"],
            )
            flash.success(request, _("Saved. The next construction of this bad case uses these settings."))
        except ValueError as exc:
            flash.error(request, str(exc))
    else:
        flash.error(request, _form_errors(form))
    return redirect("construction:badcase", bad_case_id=case.id)


@require_POST
@role_required(ENGINEERS)
def badcase_tests_accept(request, bad_case_id: int):
    case = get_object_or_404(BadCase, id=bad_case_id)
    try:
        badcase_proposed_tests_accept(bad_case_id=case.id, user=request.user)
        flash.success(
            request, _("Accepted: the next construction runs these tests against every candidate, in the sandbox.")
        )
    except ValueError as exc:
        flash.error(request, str(exc))
    return redirect("construction:badcase", bad_case_id=case.id)


@require_POST
@role_required(ENGINEERS)
def badcase_reset_view(request, bad_case_id: int):
    case = get_object_or_404(BadCase, id=bad_case_id)
    try:
        badcase_reset(bad_case_id=case.id, user=request.user)
        flash.success(request, _("Construction forgotten: the next run builds this bad case again."))
    except ValueError as exc:
        flash.error(request, str(exc))
    return redirect("construction:badcase", bad_case_id=case.id)


@role_required(ENGINEERS)
def run_list(request):
    runs = selectors.runs_page(
        kind=request.GET.get("kind") or ConstructionRun.Kind.CONSTRUCT, before_id=page_key(request)
    )
    return render(request, "construction/runs.html", {"runs": runs, "next_before": runs.next_key})


@require_POST
@role_required(ENGINEERS)
def run_start(request):
    form = RunStartForm(request.POST)
    if not form.is_valid():
        flash.error(request, _form_errors(form))
        return redirect("construction:index")
    if not llm_is_configured():
        flash.error(
            request, _("No LLM is configured (OPENAI_BASE_URL is empty): construction needs a teacher and a judge.")
        )
        return redirect("construction:index")
    try:
        run = construction_run_create(limit=form.cleaned_data["limit"], config=form.config(), user=request.user)
    except ValueError as exc:
        flash.error(request, str(exc))
        return redirect("construction:index")
    return redirect("construction:run", run_id=run.id)


@role_required(ENGINEERS)
def run_detail(request, run_id: int):
    run = get_object_or_404(ConstructionRun.objects.select_related("job", "created_by"), id=run_id)
    summary = run.summary or {}
    context = {
        "run": run,
        "summary": summary,
        "usage": usage_for_job(run.job_id) if run.job_id else None,
        "calls": selectors.run_calls(run=run, before_id=page_key(request)),
    }
    if run.kind == ConstructionRun.Kind.CONSTRUCT:
        context["length_chart"] = length_bias_chart(selectors.run_length_points(run=run))
        context["refusals_chart"] = refusals_chart(summary.get("pairs_refused", {}), summary.get("sft_refused", {}))
        context["cases"] = list(BadCase.objects.filter(id__in=run.bad_case_ids[:200]).order_by("id"))
    else:
        context["samples"] = list(SyntheticSample.objects.filter(run=run).defer("embedding").order_by("slot")[:200])
    return render(request, "construction/run.html", context)


@role_required(ENGINEERS)
def synthesis(request):
    method, status = request.GET.get("method", ""), request.GET.get("status", "")
    samples = selectors.synthetic_page(method=method, status=status, before_id=page_key(request))
    return render(
        request,
        "construction/synthesis.html",
        {
            "samples": samples,
            "method": method,
            "status": status,
            "methods": SyntheticSample.Method.choices,
            "statuses": SyntheticSample.Status.choices,
            "seeds": selectors.seed_prompts(),
            "seed_form": SeedForm(),
            "form": SynthesisForm(),
            "runs": selectors.runs_page(kind=ConstructionRun.Kind.SYNTHESIZE, size=5),
            "next_before": samples.next_key,
            "llm_configured": llm_is_configured(),
            "teacher_model": model_for("teacher"),
        },
    )


@require_POST
@role_required(ENGINEERS)
def synthesis_start(request):
    form = SynthesisForm(request.POST)
    if not form.is_valid():
        flash.error(request, _form_errors(form))
        return redirect("construction:synthesis")
    if not llm_is_configured():
        flash.error(request, _("No LLM is configured (OPENAI_BASE_URL is empty): synthesis needs a teacher."))
        return redirect("construction:synthesis")
    data = form.cleaned_data
    try:
        run = synthesis_run_create(
            method=data["method"],
            count=data["count"],
            task_type=data["task_type"],
            variants=data["variants"],
            source=data["source"],
            temperature=data["temperature"],
            max_calls=data["max_calls"],
            user=request.user,
        )
    except ValueError as exc:
        flash.error(request, str(exc))
        return redirect("construction:synthesis")
    return redirect("construction:run", run_id=run.id)


@require_POST
@role_required(ENGINEERS)
def seed_add(request):
    form = SeedForm(request.POST)
    if form.is_valid():
        try:
            seed_prompt_add(task_type=form.cleaned_data["task_type"], text=form.cleaned_data["text"], user=request.user)
            flash.success(request, _("Seed prompt added."))
        except ValueError as exc:
            flash.error(request, str(exc))
    else:
        flash.error(request, _form_errors(form))
    return redirect("construction:synthesis")


@role_required(ENGINEERS)
def synthetic_detail(request, sample_id: int):
    sample = (
        SyntheticSample.objects.select_related("run", "seed", "reviewer")
        .defer("embedding")
        .filter(id=sample_id)
        .first()
    )
    if sample is None:
        raise Http404(_("no such synthetic sample"))
    return render(request, "construction/synthetic.html", {"sample": sample, "calls": sample.calls.order_by("id")})
