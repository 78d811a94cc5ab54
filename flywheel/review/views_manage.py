"""The engineers' pages: queues, their items with filters and bulk actions, throughput,
agreement and the audit log."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from flywheel.accounts.roles import ENGINEERS, role_required
from flywheel.review.bulk import BULK_ACTIONS, bulk_params_clean, review_items_bulk_request
from flywheel.review.forms import QueueForm
from flywheel.review.guidelines import review_guideline_save, review_guideline_versions
from flywheel.review.item_filters import ItemFilter
from flywheel.review.models import ReviewItem, ReviewQueue
from flywheel.review.selectors import (
    audit_events_page,
    parse_cursor,
    review_items_page,
    review_open_count,
    review_queue_overview,
)
from flywheel.review.services import ADJUDICATION, review_queue_default, review_queue_save
from flywheel.review.stats import review_agreement, review_suggestion_uptake, review_throughput
from flywheel.ui.charts import line_chart
from flywheel.ui.paging import page_key


@role_required(ENGINEERS)
def queue_list(request):
    return render(request, "review/queues.html", {"queues": review_queue_overview()})


@require_http_methods(["GET", "POST"])
@role_required(ENGINEERS)
def queue_edit(request, slug: str | None = None):
    queue = get_object_or_404(ReviewQueue, slug=slug) if slug else None
    form = QueueForm(request.POST or None, instance=queue)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = review_queue_save(
                user=request.user,
                queue=queue,
                slug=data["slug"],
                name=data["name"],
                kind=data["kind"],
                description=data["description"],
                filters=data["filters_json"],
                priority=data["priority"],
                reviewers_per_item=data["reviewers_per_item"],
                lease_seconds=data["lease_seconds"],
                audience=data["audience"],
                active=data["active"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            flash.success(request, _("Queue “%(queue)s” saved.") % {"queue": saved.name})
            return redirect("review:queue_items", slug=saved.slug)
    return render(request, "review/queue_form.html", {"form": form, "queue": queue}, status=422 if form.errors else 200)


@role_required(ENGINEERS)
def queue_items(request, slug: str):
    # The adjudication queue is made on the first disagreement; the nav links to it before that.
    queue = ReviewQueue.objects.filter(slug=slug).first() or (slug == ADJUDICATION and review_queue_default(kind=slug))
    if not queue:
        raise Http404(f"no review queue {slug!r}")
    item_filter = ItemFilter.from_params(queue.id, request.GET)
    page = review_items_page(item_filter=item_filter, after=parse_cursor(request.GET.get("after")))
    upto_id = ReviewItem.objects.order_by("-id").values_list("id", flat=True).first() or 0
    open_count, capped = review_open_count(queue=queue)
    params = item_filter.query_params()
    return render(
        request,
        "review/queue_items.html",
        {
            "queue": queue,
            "page": page,
            "filter": item_filter,
            "filter_params": params,
            "upto_id": upto_id,
            "next_url": f"?{urlencode({**params, 'after': page['next']})}" if page["next"] else None,
            "statuses": ["all", *ReviewItem.Status.values],
            "actions": BULK_ACTIONS,
            "targets": ReviewQueue.objects.filter(kind=queue.kind).exclude(id=queue.id),
            "open_count": open_count,
            "open_capped": capped,
        },
    )


@require_POST
@role_required(ENGINEERS)
def queue_bulk(request, slug: str):
    """Apply an action to the ticked rows, or (scope=filtered) to every item the posted filter
    matches, as it stood when the page was shown (upto_id)."""
    queue = get_object_or_404(ReviewQueue, slug=slug)
    item_filter = ItemFilter.from_params(queue.id, request.POST)
    back = f"{reverse('review:queue_items', args=[queue.slug])}?{urlencode(item_filter.query_params())}"
    if request.POST.get("scope") != "filtered":
        ids = request.POST.getlist("ids")
        if not ids:
            flash.error(request, _("Tick some items, or “select all matching”."))
            return redirect(back)
        item_filter = item_filter.with_ids(ids)
    try:
        params = bulk_params_clean(
            queue=queue,
            action=request.POST.get("action", ""),
            target=request.POST.get("target", ""),
            priority=request.POST.get("priority", ""),
        )
    except ValueError as exc:
        flash.error(request, str(exc))
        return redirect(back)
    outcome = review_items_bulk_request(
        queue=queue, item_filter=item_filter, action=request.POST["action"], params=params, user=request.user
    )
    if "job" in outcome:
        flash.success(request, _("That is a large set: a job is applying the action."))
        return redirect("jobs:detail", job_id=outcome["job"].id)
    message = _("%(action)s: %(changed)s item(s) changed.") % {
        "action": BULK_ACTIONS[request.POST["action"]],
        "changed": outcome["changed"],
    }
    if outcome["conflicts"]:
        message += " " + _("%(count)s stayed: the target queue already holds their subject.") % {
            "count": outcome["conflicts"]
        }
    flash.success(request, message)
    return redirect(back)


@role_required(ENGINEERS)
def throughput(request):
    figures = review_throughput(days=14)
    chart = line_chart([d.isoformat() for d in figures["days"]], figures["series"], y_title=_("items submitted"))
    return render(request, "review/throughput.html", {**figures, "chart": chart})


@role_required(ENGINEERS)
def agreement(request):
    queue = ReviewQueue.objects.filter(slug=request.GET.get("queue", "")).first()
    return render(
        request,
        "review/agreement.html",
        {
            "rows": review_agreement(queue_id=queue.id if queue else None),
            "uptake": review_suggestion_uptake(queue_id=queue.id if queue else None),
            "queue": queue,
            "queues": ReviewQueue.objects.filter(reviewers_per_item__gt=1).order_by("name"),
        },
    )


@require_http_methods(["GET", "POST"])
@role_required(ENGINEERS)
def queue_guidelines(request, slug: str):
    """Edit a queue's guidelines (Markdown); every saved change is a new version."""
    queue = get_object_or_404(ReviewQueue, slug=slug)
    body, error = None, ""
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            saved = review_guideline_save(queue=queue, user=request.user, body=body)
        except ValueError as exc:
            error = str(exc)
        else:
            flash.success(request, _("Guidelines saved as version %(v)s.") % {"v": saved.version})
            return redirect("review:queue_guidelines", slug=queue.slug)
    versions = review_guideline_versions(queue=queue)
    current = versions[0] if versions else None
    return render(
        request,
        "review/queue_guidelines.html",
        {
            "queue": queue,
            "versions": versions,
            "current": current,
            "body": body if body is not None else (current.body if current else ""),
            "error": error,
        },
        status=422 if error else 200,
    )


@role_required(ENGINEERS)
def audit_log(request):
    filters = {key: request.GET.get(key, "").strip()[:128] for key in ("actor", "action", "target_type", "target_id")}
    page = audit_events_page(**filters, before_id=page_key(request))
    next_url = f"?{urlencode({**filters, 'before': page['next_before']})}" if page["next_before"] else None
    return render(request, "review/audit.html", {**page, "filters": filters, "next_url": next_url})
