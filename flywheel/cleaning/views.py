"""Cleaning pages for engineers: the report, the per-app rule editor, samples per rule,
PII before/after, duplicate clusters, and the re-run button. Every page is for ENGINEERS."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from flywheel.accounts.roles import ENGINEERS, role_required
from flywheel.cleaning.forms import overrides_from_form, rule_rows
from flywheel.cleaning.models import DedupEntry
from flywheel.cleaning.rules import RULES
from flywheel.cleaning.ruleset import DUPLICATE_RULE, PII_RULE, RuleConfigError
from flywheel.cleaning.selectors import (
    apps_known,
    duplicate_clusters,
    pii_samples,
    pii_type_counts,
    report_figures,
    rule_hit_counts,
    rule_overrides_for_app,
    rule_samples,
    ruleset_for_app,
)
from flywheel.cleaning.services import cleaning_rerun_request, ruleset_config_save
from flywheel.jobs.models import Job
from flywheel.ui.charts import counts_chart
from flywheel.ui.paging import page_key

_ALL = "*"


def _app_param(request) -> str | None:
    """`?app=` names an app; absent or "*" means every app."""
    value = request.GET.get("app", request.POST.get("app", _ALL))[:64]
    return None if value == _ALL else value


@role_required(ENGINEERS)
def index(request):
    app = _app_param(request)
    figures = report_figures(app=app)
    # For one app, hits under that app's rules; across apps (each with its own parameters),
    # hits under each rule's current version.
    hits = rule_hit_counts(figures, ruleset_for_app(app=app) if app is not None else None)
    pii_types = pii_type_counts()
    return render(
        request,
        "cleaning/index.html",
        {
            "app": app,
            "app_value": _ALL if app is None else app,
            "apps": apps_known(),
            "figures": figures,
            "hits": hits,
            "hits_chart": counts_chart(hits, label=_("hits")),
            "pii_types": pii_types,
            "pii_chart": counts_chart(pii_types, label=_("findings")) if pii_types else None,
            "session_clusters": duplicate_clusters(scope=DedupEntry.Scope.SESSION, size=5),
            "prompt_clusters": duplicate_clusters(scope=DedupEntry.Scope.PROMPT, size=5),
            "jobs": list(Job.objects.filter(kind="cleaning.rerun").order_by("-id")[:5]),
            "rule_titles": {
                **{name: rule.title for name, rule in RULES.items()},
                PII_RULE: "Personal data scrubbed",
                DUPLICATE_RULE: "Duplicate session",
            },
        },
    )


@require_http_methods(["GET", "POST"])
@role_required(ENGINEERS)
def rules_edit(request):
    app = request.GET.get("app", request.POST.get("app", ""))[:64]
    overrides = rule_overrides_for_app(app=app)
    posted = None
    if request.method == "POST":
        try:
            clean = overrides_from_form(request.POST)
        except RuleConfigError as exc:
            flash.error(request, str(exc))
            posted = request.POST
        else:
            ruleset_config_save(app=app, overrides=clean, user=request.user)
            if "rerun" in request.POST:
                job = cleaning_rerun_request(app=app or None, user=request.user)
                flash.success(request, _("Rules saved; re-run queued as job #%(job)s.") % {"job": job.id})
                return redirect(f"{reverse('cleaning:index')}?app={app or _ALL}")
            flash.success(request, _("Rules saved. They apply to new data; re-run to apply them to stored sessions."))
            return redirect(f"{reverse('cleaning:rules')}?app={app}")
    dedup = {"sessions": overrides.get("dedup_sessions", True), "prompts": overrides.get("dedup_prompts", True)}
    if posted is not None:
        dedup = {"sessions": posted.get("dedup_sessions") == "on", "prompts": posted.get("dedup_prompts") == "on"}
    return render(
        request,
        "cleaning/rules.html",
        {
            "app": app,
            "apps": apps_known(),
            "rows": rule_rows(overrides, posted),
            "dedup": dedup,
            "has_own_rules": app == "" or bool(overrides),
        },
    )


@require_POST
@role_required(ENGINEERS)
def rerun(request):
    app = _app_param(request)
    job = cleaning_rerun_request(app=app, user=request.user)
    flash.success(request, _("Re-run queued as job #%(job)s.") % {"job": job.id})
    return redirect(f"{reverse('cleaning:index')}?app={_ALL if app is None else app}")


@role_required(ENGINEERS)
def samples(request, rule: str):
    if rule not in RULES and rule not in (PII_RULE, DUPLICATE_RULE):
        raise Http404("no such rule")
    app = _app_param(request)
    rows = rule_samples(rule=rule, app=app, before_id=page_key(request))
    return render(
        request,
        "cleaning/samples.html",
        {
            "rule": RULES.get(rule),
            "rule_name": rule,
            "rows": rows,
            "app_value": _ALL if app is None else app,
            "next_before": rows.next_key,
        },
    )


@role_required(ENGINEERS)
def pii(request):
    rows = pii_samples(before_id=page_key(request))
    return render(
        request,
        "cleaning/pii.html",
        {
            "rows": rows,
            "next_before": rows.next_key,
        },
    )


@role_required(ENGINEERS)
def duplicates(request):
    scope = request.GET.get("scope", DedupEntry.Scope.SESSION)
    if scope not in DedupEntry.Scope.values:
        raise Http404("no such scope")
    return render(
        request,
        "cleaning/duplicates.html",
        {
            "scope": scope,
            "clusters": duplicate_clusters(scope=scope, size=50),
        },
    )
