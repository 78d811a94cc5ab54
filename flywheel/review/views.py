"""The annotator's pages: the queues, the item being reviewed, and the two live previews."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from flywheel.accounts.roles import ENGINEERS, REVIEWERS, role_required, user_has_any_role
from flywheel.ingest.models import Message
from flywheel.ingest.selectors import session_transcript
from flywheel.review.diffs import answer_diff
from flywheel.review.forms import conversation_for_preview, decision_from_post
from flywheel.review.kinds import review_kind_get
from flywheel.review.loss_preview import loss_preview
from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue
from flywheel.review.selectors import review_my_day, review_open_count, review_queues_for
from flywheel.review.services import (
    ReviewError,
    review_claim_renew,
    review_item_claim_next,
    review_item_release,
    review_item_skip,
    review_item_submit,
    review_queue_can_review,
)
from flywheel.review.turn_badges import turn_badges


@role_required(REVIEWERS)
def home(request):
    queues = review_queues_for(user=request.user)
    for queue in queues:
        queue.open_count, queue.open_capped = review_open_count(queue=queue)
    return render(request, "review/home.html", {"queues": queues, "day": review_my_day(user=request.user)})


@require_POST
@role_required(REVIEWERS)
def claim_next(request, slug: str):
    queue = get_object_or_404(ReviewQueue, slug=slug, active=True)
    try:
        claim = review_item_claim_next(queue=queue, user=request.user)
    except ReviewError as exc:
        flash.error(request, str(exc))
        return redirect("review:home")
    if claim is None:
        flash.success(request, f"Nothing left for you in “{queue.name}”. Thank you!")
        return redirect("review:home")
    return redirect("review:item", item_id=claim.item.id)


def _transcript_messages(item: ReviewItem) -> list[Message]:
    if item.session_id is None:
        return []
    return list(Message.objects.filter(session_id=item.session_id, alternative_to__isnull=True).order_by("seq", "id"))


def _turn_rows(item: ReviewItem, controls: frozenset, values) -> list[dict]:
    """The conversation turn by turn, with what the page shows beside each turn and the values
    of its controls (from the posted form after an error, so nothing typed is lost)."""
    if item.session_id is None:
        return []
    transcript = session_transcript(session=item.session)
    badges = turn_badges(session=item.session, message_ids=[t["message"].id for t in transcript])
    rows = []
    for turn in transcript:
        message = turn["message"]
        key = f"turn-{message.id}"
        rows.append({
            **turn,
            "badges": badges.get(message.id, []),
            "is_subject": message.id == item.message_id,
            "train": (values.get(f"{key}-train") == "1") if values is not None else True,
            "edited": (values.get(f"{key}-edited", message.content).replace("\r\n", "\n")
                       if values is not None else message.content),
            "continuity": values.get(f"{key}-continuity", "") if values is not None else "",
            "can_train": "train" in controls and message.role == Message.Role.ASSISTANT,
            "can_edit": "edit" in controls and message.role == Message.Role.ASSISTANT,
            "can_continuity": "continuity" in controls and message.role == Message.Role.USER and message.seq > 1,
        })
    return rows


def _item_page(request, item: ReviewItem, *, claimed: bool, values=None, error: str = "", status: int = 200):
    kind = review_kind_get(item.kind)
    controls = kind.turn_controls_for(item)
    fields = [{"field": f, "value": (values or {}).get(f"field-{f.name}", "")} for f in kind.fields_for(item)]
    context = {
        "item": item, "kind": kind, "queue": item.queue, "claimed": claimed, "error": error,
        "fields": fields, "turns": _turn_rows(item, controls, values), "controls": controls,
        "note": (values or {}).get("note", ""), "payload": item.payload, "extra": kind.context(item),
        "day": review_my_day(user=request.user),
        "assignments": ReviewAssignment.objects.filter(item=item).select_related("reviewer").order_by("claimed_at"),
    }
    return render(request, "review/item.html", context, status=status)


@role_required(REVIEWERS)
def item_detail(request, item_id: int):
    """The reviewer's work page while they hold the item; a read-only view for engineers."""
    item = get_object_or_404(ReviewItem.objects.select_related("queue", "session", "message", "parent"), id=item_id)
    holds = ReviewAssignment.objects.filter(item=item, reviewer=request.user,
                                            state=ReviewAssignment.State.CLAIMED).exists()
    if not holds and not user_has_any_role(request.user, ENGINEERS):
        flash.error(request, "That item is not assigned to you (any more). Take the next one from a queue.")
        return redirect("review:home")
    return _item_page(request, item, claimed=holds and item.status == ReviewItem.Status.OPEN)


@require_POST
@role_required(REVIEWERS)
def item_submit(request, item_id: int):
    item = get_object_or_404(ReviewItem.objects.select_related("queue", "session", "message", "parent"), id=item_id)
    kind = review_kind_get(item.kind)
    decision = decision_from_post(item=item, kind=kind, post=request.POST, messages=_transcript_messages(item))
    try:
        review_item_submit(item_id=item.id, user=request.user, decision=decision)
    except ValueError as exc:
        return _item_page(request, item, claimed=True, values=request.POST, error=str(exc), status=422)
    except ReviewError as exc:
        flash.error(request, str(exc))
        return redirect("review:home")
    return _next_or_home(request, item.queue)


def _next_or_home(request, queue: ReviewQueue):
    """Straight on to the next item of the same queue: no clicks between items."""
    if review_queue_can_review(queue=queue, user=request.user) and queue.active:
        claim = review_item_claim_next(queue=queue, user=request.user)
        if claim is not None:
            return redirect("review:item", item_id=claim.item.id)
    flash.success(request, f"Queue “{queue.name}” has nothing left for you.")
    return redirect("review:home")


@require_POST
@role_required(REVIEWERS)
def item_skip(request, item_id: int):
    item = get_object_or_404(ReviewItem.objects.select_related("queue"), id=item_id)
    try:
        review_item_skip(item_id=item.id, user=request.user)
    except ReviewError as exc:
        flash.error(request, str(exc))
        return redirect("review:home")
    return _next_or_home(request, item.queue)


@require_POST
@role_required(REVIEWERS)
def item_release(request, item_id: int):
    try:
        review_item_release(item_id=item_id, user=request.user)
    except ReviewError as exc:
        flash.error(request, str(exc))
    else:
        flash.success(request, "Released: the item is back in its queue.")
    return redirect("review:home")


@require_POST
@role_required(REVIEWERS)
def item_renew(request, item_id: int):
    """Polled while the page is open, so a long review does not lose its claim."""
    try:
        assignment = review_claim_renew(item_id=item_id, user=request.user)
    except ReviewError as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain")
    return HttpResponse(f"claim renewed until {assignment.lease_expires_at:%H:%M:%S}", content_type="text/plain")


def _previewable_item(request, item_id) -> ReviewItem:
    item = get_object_or_404(ReviewItem.objects.select_related("session"), id=item_id)
    if not user_has_any_role(request.user, ENGINEERS) and not ReviewAssignment.objects.filter(
            item=item, reviewer=request.user).exists():
        raise ReviewItem.DoesNotExist
    return item


@require_POST
@role_required(REVIEWERS)
def preview_loss(request, item_id: int):
    try:
        item = _previewable_item(request, item_id)
    except ReviewItem.DoesNotExist:
        return HttpResponse("not your item", status=404, content_type="text/plain")
    conversation = conversation_for_preview(messages=_transcript_messages(item), post=request.POST)
    return render(request, "review/_loss_preview.html", {"preview": loss_preview(messages=conversation)})


@require_POST
@role_required(REVIEWERS)
def preview_diff(request, item_id: int, message_id: int):
    try:
        item = _previewable_item(request, item_id)
    except ReviewItem.DoesNotExist:
        return HttpResponse("not your item", status=404, content_type="text/plain")
    message = get_object_or_404(Message, id=message_id, session_id=item.session_id)
    edited = request.POST.get(f"turn-{message.id}-edited", message.content)
    return render(request, "review/_diff.html", {"diff": answer_diff(message.content, edited)})
