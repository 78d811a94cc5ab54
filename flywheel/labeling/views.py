from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from flywheel.accounts.roles import ENGINEERS, role_required
from flywheel.accounts.services import audit_record
from flywheel.jobs.services import job_create
from flywheel.labeling.classifier import offline_report, task_type_model
from flywheel.labeling.prompts import PROMPT_VERSION
from flywheel.labeling.selectors import (
    dead_label_tasks,
    label_agreement,
    label_distribution,
    label_task_counts,
    labels_recent,
)
from flywheel.labeling.services import label_tasks_redrive, stuck_label_tasks
from flywheel.labeling.taxonomy import taxonomy
from flywheel.llm.client import llm_is_configured, model_for
from flywheel.ui.charts import bar_chart
from flywheel.ui.paging import page_key

SOURCES = (
    ("llm", gettext_lazy("LLM")),
    ("offline", gettext_lazy("offline labeler")),
    ("human", gettext_lazy("reviewers")),
)


@role_required(ENGINEERS)
def index(request):
    distribution = label_distribution()
    tax = taxonomy()
    types = [t for t in tax.type_names() if t in distribution["by_type"]] + sorted(
        t for t in distribution["by_type"] if t not in tax.types
    )
    type_chart = bar_chart(
        types,
        {title: [distribution["by_type"].get(t, {}).get(source, 0) for t in types] for source, title in SOURCES},
        stacked=True,
    )
    qualities = [1, 2, 3, 4, 5]
    quality_chart = bar_chart(
        [str(q) for q in qualities],
        {title: [distribution["by_quality"].get(q, {}).get(source, 0) for q in qualities] for source, title in SOURCES},
        stacked=True,
    )
    dead = dead_label_tasks(before_id=page_key(request, "dead_before"))
    offline = _offline_tables(offline_report(task_type_model(tax)), tax)
    return render(
        request,
        "labeling/index.html",
        {
            "llm_configured": llm_is_configured(),
            "label_model": model_for("label"),
            "prompt_version": PROMPT_VERSION,
            "taxonomy": tax,
            "flags": distribution["flags"],
            "task_counts": label_task_counts(),
            "type_chart": type_chart,
            "quality_chart": quality_chart,
            "agreement_llm": label_agreement(source="llm"),
            "agreement_offline": label_agreement(source="offline"),
            "offline": offline,
            "dead": dead,
            "stuck": stuck_label_tasks().count(),
            "dead_next": dead.next_key,
            "flagged": labels_recent(flagged=True, size=20),
            "recent": labels_recent(size=20),
        },
    )


def _offline_tables(report: dict, tax) -> dict:
    """The offline labeler's held-out report shaped for the page: a row per task type with its
    accuracy overall and per language, and the confusion matrix with row totals."""
    held = report["held_out"]
    languages = list(held["by_language"])
    columns = ["all", *languages]
    rows = [
        {
            "task_type": task_type,
            "title": tax.title(task_type),
            "cells": [by_language.get(column, {"n": 0, "accuracy": None}) for column in columns],
        }
        for task_type, by_language in held["by_type"].items()
    ]
    labels = held["confusion"].get("labels", [])
    confusion = [
        {"task_type": label, "counts": counts, "total": sum(counts), "right": counts[index]}
        for index, (label, counts) in enumerate(zip(labels, held["confusion"].get("all", [])))
    ]
    return {**report, "held": held, "languages": languages, "rows": rows, "labels": labels, "confusion": confusion}


@require_POST
@role_required(ENGINEERS)
def redrive(request):
    task_ids = [int(i) for i in request.POST.getlist("task_id") if i.isdigit()] or None
    result = label_tasks_redrive(task_ids=task_ids, created_by=request.user)
    audit_record(
        actor=request.user,
        action="labeling.redrive",
        target_type="label_task",
        target_id=",".join(map(str, task_ids)) if task_ids else "all-dead",
        detail=result,
    )
    flash.success(
        request,
        _("%(tasks)s labeling task(s) re-driven in %(jobs)s job(s).")
        % {"tasks": result["redriven"], "jobs": len(result["jobs"])},
    )
    return redirect("labeling:index")


@require_POST
@role_required(ENGINEERS)
def run_now(request):
    job = job_create(
        kind="labeling.run_pending", payload={}, dedupe_key="labeling.run_pending", created_by=request.user
    )
    audit_record(actor=request.user, action="labeling.run", target_type="job", target_id=job.id)
    return redirect("jobs:detail", job_id=job.id)
