"""The annotator's pages: the queues, the item being reviewed, and the two live previews."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from flywheel.accounts.roles import ENGINEERS, REVIEWERS, role_required, user_has_any_role
from flywheel.datasets.supervision import session_as_trained
from flywheel.ingest.models import Message
from flywheel.ingest.selectors import session_transcript
from flywheel.review.diffs import answer_diff
from flywheel.review.forms import decision_form_values, decision_from_post
from flywheel.review.guidelines import review_guideline_current
from flywheel.review.kinds import review_kind_get
from flywheel.review.loss_preview import loss_preview
from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue
from flywheel.review.privacy import review_text_shown, review_texts_shown, scrubbed_for_display
from flywheel.review.selectors import (
    review_claimable_count,
    review_my_day,
    review_my_recent,
    review_my_undoable,
    review_open_count,
    review_queues_for,
)
from flywheel.review.services import (
    ReviewError,
    review_claim_renew,
    review_item_claim_next,
    review_item_decline,
    review_item_release,
    review_item_reopen,
    review_item_reveal,
    review_item_skip,
    review_item_submit,
    review_item_undo,
    review_queue_can_review,
)
from flywheel.review.suggestions import Suggestions, review_suggestions
from flywheel.review.turn_badges import turn_badges


@role_required(REVIEWERS)
def home(request):
    queues = review_queues_for(user=request.user)
    for queue in queues:
        queue.open_count, queue.open_capped = review_open_count(queue=queue)
        queue.for_me = review_claimable_count(queue=queue, user=request.user)
    return render(
        request,
        "review/home.html",
        {
            "queues": queues,
            "day": review_my_day(user=request.user),
            "recent": review_my_recent(user=request.user),
            "undoable": review_my_undoable(user=request.user),
        },
    )


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
        flash.success(request, _("Nothing left for you in “%(queue)s”. Thank you!") % {"queue": queue.name})
        return redirect("review:home")
    return redirect("review:item", item_id=claim.item.id)


def _transcript_messages(item: ReviewItem) -> list[Message]:
    if item.session_id is None:
        return []
    return list(Message.objects.filter(session_id=item.session_id, alternative_to__isnull=True).order_by("seq", "id"))


def _shown_texts(messages: list[Message]) -> dict[int, str]:
    """The text of each message as the dataset holds it (PII scrubbed); a message that could
    not be scrubbed is absent and shown as hidden."""
    return review_texts_shown(message_ids=[m.id for m in messages])


def _feedback_shown(feedback: list, *, originals: bool) -> list:
    """Feedback as shown on review pages: comments and reasons with personal data replaced
    (`shown_comment` None: hidden), or as stored for an engineer's reveal."""
    for entry in feedback:
        reasons = entry.reasons if isinstance(entry.reasons, list) else []
        entry.shown_comment = entry.comment if originals else review_text_shown(entry.comment)
        entry.shown_reasons = reasons if originals else scrubbed_for_display(reasons)
    return feedback


def _turn_rows(
    item: ReviewItem, controls: frozenset, values, *, originals: bool = False, suggested: dict | None = None
) -> list[dict]:
    """The conversation turn by turn, with what the page shows beside each turn and the values
    of its controls (from the posted form after an error, so nothing typed is lost). Texts are
    the scrubbed ones the dataset trains on; `originals` (an engineer's audited reveal) shows
    the stored text instead."""
    if item.session_id is None:
        return []
    transcript = session_transcript(session=item.session)
    badges = turn_badges(session=item.session, message_ids=[t["message"].id for t in transcript])
    messages = [t["message"] for t in transcript] + [a["message"] for t in transcript for a in t["alternatives"]]
    texts = {m.id: m.content for m in messages} if originals else _shown_texts(messages)
    rows = []
    suggested = suggested or {}
    for turn in transcript:
        message = turn["message"]
        key = f"turn-{message.id}"
        text = texts.get(message.id)
        suggestion = suggested.get(str(message.id))
        rows.append(
            {
                **turn,
                "text": text,
                "feedback": _feedback_shown(turn["feedback"], originals=originals),
                "alternatives": [
                    {
                        **alt,
                        "text": texts.get(alt["message"].id),
                        "feedback": _feedback_shown(alt["feedback"], originals=originals),
                    }
                    for alt in turn["alternatives"]
                ],
                "badges": badges.get(message.id, []),
                "is_subject": message.id == item.message_id,
                "train": (values.get(f"{key}-train") == "1") if values is not None else True,
                "edited": (
                    values.get(f"{key}-edited", text or "").replace("\r\n", "\n") if values is not None else text or ""
                ),
                "continuity": (
                    values.get(f"{key}-continuity", "")
                    if values is not None
                    else (suggestion.value if suggestion else "")
                ),
                "suggestion": suggestion if values is None else None,
                "can_train": "train" in controls and message.role == Message.Role.ASSISTANT,
                # A hidden answer cannot be edited: there is no text to start from.
                "can_edit": "edit" in controls and message.role == Message.Role.ASSISTANT and text is not None,
                "can_continuity": "continuity" in controls and message.role == Message.Role.USER and message.seq > 1,
            }
        )
    return rows


def _item_page(request, item: ReviewItem, *, claimed: bool, values=None, error: str = "", status: int = 200):
    kind = review_kind_get(item.kind)
    controls = kind.turn_controls_for(item)
    # Suggestions pre-select answers on a fresh form; a form coming back (an error, an undo)
    # shows what the reviewer had chosen.
    suggestions = review_suggestions(item=item) if claimed and values is None else Suggestions()
    fields = []
    for f in kind.fields_for(item):
        suggestion = suggestions.fields.get(f.name)
        value = (
            (values or {}).get(f"field-{f.name}", "")
            if values is not None
            else (suggestion.value if suggestion else "")
        )
        fields.append({"field": f, "value": value, "suggestion": suggestion})
    assignments = list(ReviewAssignment.objects.filter(item=item).select_related("reviewer").order_by("claimed_at"))
    for assignment in assignments:
        assignment.shown_decision = scrubbed_for_display(assignment.decision)
    context = {
        "item": item,
        "kind": kind,
        "queue": item.queue,
        "claimed": claimed,
        "error": error,
        "fields": fields,
        "turns": _turn_rows(item, controls, values, suggested=suggestions.turns),
        "controls": controls,
        "note": (values or {}).get("note", ""),
        "payload": scrubbed_for_display(item.payload),
        "extra": kind.context(item),
        "day": review_my_day(user=request.user),
        "assignments": assignments,
        "final_decision": scrubbed_for_display(item.final_decision),
        "may_reveal": user_has_any_role(request.user, ENGINEERS),
        "undoable": review_my_undoable(user=request.user),
        "guideline": review_guideline_current(queue=item.queue),
    }
    return render(request, "review/item.html", context, status=status)


@role_required(REVIEWERS)
def item_detail(request, item_id: int):
    """The reviewer's work page while they hold the item; a read-only view for engineers."""
    item = get_object_or_404(ReviewItem.objects.select_related("queue", "session", "message", "parent"), id=item_id)
    held = ReviewAssignment.objects.filter(
        item=item, reviewer=request.user, state=ReviewAssignment.State.CLAIMED
    ).first()
    if held is None and not user_has_any_role(request.user, ENGINEERS):
        flash.error(request, _("That item is not assigned to you (any more). Take the next one from a queue."))
        return redirect("review:home")
    # An undone decision comes back as a draft: the form shows the answers as they were.
    draft = decision_form_values(held.decision) if held is not None and held.decision else None
    return _item_page(request, item, claimed=held is not None and item.status == ReviewItem.Status.OPEN, values=draft)


@require_POST
@role_required(REVIEWERS)
def item_submit(request, item_id: int):
    item = get_object_or_404(ReviewItem.objects.select_related("queue", "session", "message", "parent"), id=item_id)
    kind = review_kind_get(item.kind)
    messages = _transcript_messages(item)
    decision = decision_from_post(
        item=item, kind=kind, post=request.POST, messages=messages, shown=_shown_texts(messages)
    )
    try:
        review_item_submit(item_id=item.id, user=request.user, decision=decision)
    except ValueError as exc:
        return _item_page(request, item, claimed=True, values=request.POST, error=str(exc), status=422)
    except ReviewError as exc:
        flash.error(request, str(exc))
        return redirect("review:home")
    return _next_or_home(request, item.queue)


def _next_or_home(request, queue: ReviewQueue, *, include_skipped: bool = True):
    """Straight on to the next item of the same queue: no clicks between items."""
    if review_queue_can_review(queue=queue, user=request.user) and queue.active:
        claim = review_item_claim_next(queue=queue, user=request.user, include_skipped=include_skipped)
        if claim is not None:
            return redirect("review:item", item_id=claim.item.id)
        if not include_skipped and review_claimable_count(queue=queue, user=request.user)["count"]:
            flash.info(
                request,
                _("Only items you skipped are left in “%(queue)s”: Start offers them again.") % {"queue": queue.name},
            )
            return redirect("review:home")
    flash.success(request, _("Queue “%(queue)s” has nothing left for you.") % {"queue": queue.name})
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
    return _next_or_home(request, item.queue, include_skipped=False)


@require_POST
@role_required(REVIEWERS)
def item_undo(request, item_id: int):
    """Take back a decision while its undo period runs (from the toast or My recent items)."""
    try:
        item = review_item_undo(item_id=item_id, user=request.user)
    except ReviewError as exc:
        flash.error(request, str(exc))
        return redirect("review:home")
    flash.success(request, _("Undone: item #%(id)s is yours again, with your answers.") % {"id": item.id})
    return redirect("review:item", item_id=item.id)


@require_POST
@role_required(ENGINEERS)
def item_reopen(request, item_id: int):
    """An engineer reopens a decided item for new reviews (recorded in the audit log)."""
    try:
        item = review_item_reopen(item_id=item_id, user=request.user, reason=request.POST.get("reason", ""))
    except ReviewError as exc:
        flash.error(request, str(exc))
    else:
        flash.success(request, _("Item #%(id)s is open again; its decision is withdrawn.") % {"id": item.id})
    return redirect("review:item", item_id=item_id)


@require_POST
@role_required(REVIEWERS)
def item_decline(request, item_id: int):
    """ "Not for me": this reviewer is never offered the item again; on to the next one."""
    item = get_object_or_404(ReviewItem.objects.select_related("queue"), id=item_id)
    try:
        review_item_decline(item_id=item.id, user=request.user)
    except ReviewError as exc:
        flash.error(request, str(exc))
        return redirect("review:home")
    flash.info(request, _("Item #%(id)s will not be offered to you again.") % {"id": item.id})
    return _next_or_home(request, item.queue)


@require_POST
@role_required(REVIEWERS)
def item_release(request, item_id: int):
    try:
        review_item_release(item_id=item_id, user=request.user)
    except ReviewError as exc:
        flash.error(request, str(exc))
    else:
        flash.success(request, _("Released: the item is back in its queue."))
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
    if (
        not user_has_any_role(request.user, ENGINEERS)
        and not ReviewAssignment.objects.filter(item=item, reviewer=request.user).exists()
    ):
        raise ReviewItem.DoesNotExist
    return item


# Why the dataset builder would leave this conversation out, as the preview says it.
_NOT_TRAINED = {
    "no_answer_supervised": _("No answer would be trained on: this conversation stays out of the dataset."),
    "pii_scrub_failed": _(
        "A text of this conversation (or your edit) could not be cleared of personal data, so no dataset would take it."
    ),
}


@require_POST
@role_required(REVIEWERS)
def preview_loss(request, item_id: int):
    """The conversation as a dataset build would train on it if this page's decision were
    final: the builder's own rules (flywheel/datasets/supervision.py), then the trainer's own
    tokenization (loss_preview)."""
    try:
        item = _previewable_item(request, item_id)
    except ReviewItem.DoesNotExist:
        return HttpResponse("not your item", status=404, content_type="text/plain")
    if item.session_id is None:
        return HttpResponse("this item has no conversation", status=404, content_type="text/plain")
    messages = _transcript_messages(item)
    decision = decision_from_post(
        item=item, kind=review_kind_get(item.kind), post=request.POST, messages=messages, shown=_shown_texts(messages)
    )
    trained, reason = session_as_trained(
        session_id=item.session_id, pending=decision, pending_message_id=item.message_id
    )
    if trained is None:
        preview = {"tokens": [], "supervised": 0, "total": 0, "turns": 0, "error": "", "left_out": _NOT_TRAINED[reason]}
    else:
        preview = loss_preview(messages=trained)
    return render(request, "review/_loss_preview.html", {"preview": preview})


@require_POST
@role_required(REVIEWERS)
def preview_diff(request, item_id: int, message_id: int):
    try:
        item = _previewable_item(request, item_id)
    except ReviewItem.DoesNotExist:
        return HttpResponse("not your item", status=404, content_type="text/plain")
    message = get_object_or_404(Message, id=message_id, session_id=item.session_id)
    # The edit box starts from the scrubbed text, so the diff is against that, not the original.
    shown = _shown_texts([message]).get(message.id)
    if shown is None:
        return HttpResponse(
            "this answer is hidden: it could not be cleared of personal data", status=404, content_type="text/plain"
        )
    edited = request.POST.get(f"turn-{message.id}-edited", shown)
    return render(request, "review/_diff.html", {"diff": answer_diff(shown, edited)})


@require_POST
@role_required(ENGINEERS)
def item_reveal(request, item_id: int):
    """An engineer's deliberate look at the original text of an item's conversation, with
    personal data left in. Recorded in the audit log; annotators are refused (403)."""
    item = get_object_or_404(ReviewItem.objects.select_related("queue", "session", "message"), id=item_id)
    review_item_reveal(item=item, user=request.user, reason=request.POST.get("reason", ""))
    kind = review_kind_get(item.kind)
    return render(
        request,
        "review/reveal.html",
        {
            "item": item,
            "kind": kind,
            "queue": item.queue,
            "payload": item.payload,
            "turns": _turn_rows(item, frozenset(), None, originals=True),
        },
    )
