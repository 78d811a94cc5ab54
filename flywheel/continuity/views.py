from django.conf import settings
from django.contrib import messages as flash
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from flywheel.accounts.roles import ENGINEERS, role_required
from flywheel.accounts.services import audit_record
from flywheel.continuity.classifier import LANGUAGES
from flywheel.continuity.models import ContinuityModelVersion
from flywheel.continuity.selectors import continuity_overview, continuity_versions
from flywheel.continuity.services import ContinuityModelMissing, continuity_model_activate, continuity_model_active
from flywheel.jobs.services import job_create

REPORT_METRICS = ("roc_auc", "precision_switch", "recall_switch", "f1_switch", "accuracy")


def _report_rows(evaluation: dict) -> list[dict]:
    rows = []
    for name, report in (evaluation or {}).items():
        if not isinstance(report, dict) or "model" not in report:
            continue
        rows.append(
            {
                "set": name.replace("all:", "all turns, ")
                + (f" ({report['language']})" if report.get("language") and not name.startswith("all:") else ""),
                "n": report["model"].get("n"),
                "switching": report["model"].get("switching"),
                "model": [report["model"].get(m) for m in REPORT_METRICS],
                "baseline": [report["baseline"].get(m) for m in REPORT_METRICS],
            }
        )
    return rows


@role_required(ENGINEERS)
def index(request):
    try:
        active = continuity_model_active()
    except ContinuityModelMissing:
        active = None
    versions = continuity_versions()
    for version in versions:  # one figure per version for the list: AUC over all held-out turns
        evaluation = version.evaluation or {}
        summary = [(name.split(":", 1)[1], part) for name, part in evaluation.items() if name.startswith("all:")]
        version.auc_summary = (
            " · ".join(
                f"{lang} {part['model'].get('roc_auc')} (baseline {part['baseline'].get('roc_auc')})"
                for lang, part in summary
            )
            or "–"
        )
        conversations = (version.training or {}).get("conversations")
        version.conversation_count = (
            sum(n for side in conversations.values() for n in side.values())
            if isinstance(conversations, dict)
            else conversations
        )
    active_row = next((v for v in versions if v.active), None)
    evaluation = (
        active_row.evaluation if active_row else (active.classifier.meta.get("evaluation", {}) if active else {})
    )
    return render(
        request,
        "continuity/index.html",
        {
            "active": active,
            "thresholds": (
                {
                    lang: active.override if active.override is not None else active.classifier.threshold_for(lang)
                    for lang in LANGUAGES
                }
                if active
                else {}
            ),
            "report_rows": _report_rows(evaluation),
            "metrics": REPORT_METRICS,
            "versions": versions,
            "overview": continuity_overview(version=active.version if active else None),
            "pseudo_share": settings.FLYWHEEL_CONTINUITY_PSEUDO_SHARE,
            "review_band": settings.FLYWHEEL_CONTINUITY_REVIEW_BAND,
        },
    )


@require_POST
@role_required(ENGINEERS)
def train(request):
    job = job_create(
        kind="continuity.train",
        payload={"seed": 0, "activate": True},
        dedupe_key="continuity.train",
        created_by=request.user,
    )
    audit_record(actor=request.user, action="continuity.train", target_type="job", target_id=job.id)
    return redirect("jobs:detail", job_id=job.id)


@require_POST
@role_required(ENGINEERS)
def activate(request, version_id: int):
    row = get_object_or_404(ContinuityModelVersion, id=version_id)
    continuity_model_activate(version_id=row.id)
    job = job_create(kind="continuity.predict", payload={}, dedupe_key="continuity.predict", created_by=request.user)
    audit_record(
        actor=request.user, action="continuity.activate", target_type="continuity_model", target_id=row.version
    )
    flash.success(
        request,
        _("%(version)s is active; sessions are being predicted again (job %(job)s).")
        % {"version": row.version, "job": job.id},
    )
    return redirect("continuity:index")
