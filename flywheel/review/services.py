"""Writes of the review app: queues, enqueueing, claiming, submitting, deciding.

Claiming is the hot path (twenty annotators pressing "next" at once). One transaction:
`SELECT ... FOR UPDATE SKIP LOCKED` picks the first item of the queue, by priority then age,
that still has a free reviewer slot (submitted + running claims < required, or a lapsed lease)
and that this reviewer has not taken, skipped or submitted; the slot is re-checked on the locked
row and the claim recorded with the counters on the same row. A reviewer's own claims are
serialised with an advisory lock, so a double click cannot take two slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from flywheel.accounts.roles import ENGINEERS, user_has_any_role
from flywheel.accounts.services import audit_record
from flywheel.i18n import Text
from flywheel.ingest.models import ChatSession, Message
from flywheel.jobs.services import job_create
from flywheel.review.kinds import ReviewKind, review_kind_get
from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue
from flywheel.review.suggestions import review_suggestions
from flywheel.ui.templatetags.flywheel_ui import message_role, status_name

ADJUDICATION = "adjudication"
FILTER_SESSION_FIELDS = ("app", "channel", "model_version")
_ADVISORY_NAMESPACE = 0x5EE1  # pg_advisory_xact_lock(namespace, user id): one claim at a time per reviewer


class ReviewError(Exception):
    """An action the current state does not allow; the message is shown to the person."""


# --- queues -------------------------------------------------------------------------------------


def _source_language(text) -> str:
    with translation.override(None):
        return str(text)


def review_queue_default(*, kind: str) -> ReviewQueue:
    """The kind's fallback queue, created (with the kind's defaults) the first time it is needed."""
    kind_obj = review_kind_get(kind)
    queue = ReviewQueue.objects.filter(kind=kind, is_default=True).first()
    if queue is not None:
        return queue
    slug = kind.replace("_", "-")
    try:
        with transaction.atomic():
            return ReviewQueue.objects.create(
                slug=slug if not ReviewQueue.objects.filter(slug=slug).exists() else f"{slug}-default",
                # Stored in the source language whoever's request creates it; pages translate
                # a default queue's name as they show it (the queue_name filter).
                name=_source_language(kind_obj.title),
                kind=kind,
                is_default=True,
                reviewers_per_item=kind_obj.default_reviewers,
                audience=kind_obj.default_audience,
            )
    except IntegrityError:  # created concurrently
        return ReviewQueue.objects.get(kind=kind, is_default=True)


def queue_filters_clean(filters) -> dict:
    """Queue filters as stored; ValueError names what is wrong."""
    if filters in (None, ""):
        return {}
    if not isinstance(filters, dict):
        raise ValueError('filters must be a JSON object, e.g. {"app": "support-bot"}')
    allowed = set(FILTER_SESSION_FIELDS) | {"subject_type", "payload"}
    unknown = set(filters) - allowed
    if unknown:
        raise ValueError(
            Text(
                "unknown filter %(unknown)s; use %(allowed)s",
                unknown=", ".join(sorted(unknown)),
                allowed=", ".join(sorted(allowed)),
            )
        )
    for key, value in filters.items():
        if key == "payload":
            if not isinstance(value, dict):
                raise ValueError('"payload" must be an object of payload keys to values')
            continue
        if not isinstance(value, (str, list)) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f'"{key}" must be a string or a list of strings')
    return filters


def _matches(filters: dict, *, session: ChatSession | None, subject_type: str, payload: dict) -> bool:
    def one(expected, actual) -> bool:
        return actual in expected if isinstance(expected, list) else actual == expected

    for key in FILTER_SESSION_FIELDS:
        if key in filters and (session is None or not one(filters[key], getattr(session, key))):
            return False
    if "subject_type" in filters and not one(filters["subject_type"], subject_type):
        return False
    for key, expected in (filters.get("payload") or {}).items():
        if key not in payload or not (
            payload[key] in expected if isinstance(expected, list) else payload[key] == expected
        ):
            return False
    return True


def review_queue_route(*, kind: str, subject_type: str, payload: dict, session: ChatSession | None) -> ReviewQueue:
    """The first active queue of the kind (by priority) whose filters match; else the default queue."""
    for queue in ReviewQueue.objects.filter(kind=kind, active=True, is_default=False).order_by("-priority", "id"):
        if queue.filters and _matches(queue.filters, session=session, subject_type=subject_type, payload=payload):
            return queue
    return review_queue_default(kind=kind)


def review_queue_save(
    *,
    user,
    slug: str,
    name: str,
    kind: str,
    description: str = "",
    filters: dict | None = None,
    priority: int = 0,
    reviewers_per_item: int = 1,
    lease_seconds: int = 900,
    audience: str = ReviewQueue.Audience.REVIEWERS,
    active: bool = True,
    queue: ReviewQueue | None = None,
) -> ReviewQueue:
    """Create a queue, or edit `queue`. Open items take the new reviewers-per-item at once."""
    review_kind_get(kind)
    filters = queue_filters_clean(filters)
    if reviewers_per_item < 1 or reviewers_per_item > 10:
        raise ValueError(Text("reviewers per item must be between 1 and 10"))
    if lease_seconds < 10:
        raise ValueError(Text("the lease must be at least 10 seconds"))
    if queue is not None and queue.kind != kind and queue.items.exists():
        raise ValueError(Text("a queue that holds items cannot change kind; create a new queue and re-route"))
    fields = dict(
        slug=slug,
        name=name,
        kind=kind,
        description=description,
        filters=filters,
        priority=priority,
        reviewers_per_item=reviewers_per_item,
        lease_seconds=lease_seconds,
        audience=audience,
        active=active,
    )
    with transaction.atomic():
        if queue is None:
            queue = ReviewQueue.objects.create(created_by=user if user and user.is_authenticated else None, **fields)
            action = "review.queue.create"
        else:
            for key, value in fields.items():
                setattr(queue, key, value)
            queue.save()
            queue.items.filter(status=ReviewItem.Status.OPEN).exclude(reviewers_required=reviewers_per_item).update(
                reviewers_required=reviewers_per_item
            )
            action = "review.queue.edit"
        audit_record(
            actor=user,
            action=action,
            target_type="review_queue",
            target_id=queue.slug,
            detail={k: v for k, v in fields.items() if k != "description"},
        )
    return queue


# --- enqueueing -----------------------------------------------------------------------------------


def review_items_known(*, kind: str, subject_type: str, subject_ids) -> set[str]:
    """Which of these subjects already have an item of this kind (in any queue), so that a
    routing rule skips them and counts only what it routes for the first time."""
    return set(
        ReviewItem.objects.filter(
            kind=kind, subject_type=subject_type, subject_id__in=[str(s) for s in subject_ids]
        ).values_list("subject_id", flat=True)
    )


def review_item_enqueue(
    *,
    kind: str,
    subject_type: str,
    subject_id: str,
    payload: dict,
    session_id: int | None = None,
    message_id: int | None = None,
    priority: int = 0,
    queue_slug: str | None = None,
    parent_id: int | None = None,
) -> ReviewItem:
    """Put one thing up for review. Idempotent: with `queue_slug`, per (queue, subject); without,
    an item of this kind about this subject in any queue is returned as it is (so an engineer's
    re-routing sticks when a rule sees the subject again)."""
    review_kind_get(kind)
    subject_id = str(subject_id)
    same_subject = ReviewItem.objects.filter(subject_type=subject_type, subject_id=subject_id)
    session = None
    if message_id is not None and session_id is None:
        session_id = Message.objects.values_list("session_id", flat=True).get(id=message_id)
    if queue_slug is None:
        existing = same_subject.filter(kind=kind).order_by("id").first()
        if existing is not None:
            return existing
        session = ChatSession.objects.filter(id=session_id).first() if session_id else None
        queue = review_queue_route(kind=kind, subject_type=subject_type, payload=payload, session=session)
    else:
        queue = ReviewQueue.objects.filter(slug=queue_slug).first()
        if queue is None:
            raise ValueError(Text("no review queue %(queue)r", queue=queue_slug))
        if queue.kind != kind:
            raise ValueError(
                Text("queue %(queue)r holds %(held)r items, not %(kind)r", queue=queue_slug, held=queue.kind, kind=kind)
            )
        existing = same_subject.filter(queue=queue).first()
        if existing is not None:
            return existing
    with transaction.atomic():
        try:
            with transaction.atomic():
                item = ReviewItem.objects.create(
                    queue=queue,
                    kind=kind,
                    subject_type=subject_type,
                    subject_id=subject_id,
                    payload=payload,
                    session_id=session_id,
                    message_id=message_id,
                    parent_id=parent_id,
                    priority=priority,
                    reviewers_required=queue.reviewers_per_item,
                )
        except IntegrityError:
            return same_subject.get(queue=queue)
        ReviewQueue.objects.filter(id=queue.id).update(items_total=F("items_total") + 1)
    return item


# --- claiming -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    item: ReviewItem
    assignment: ReviewAssignment
    resumed: bool


def _lock_reviewer(user) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A claim is only a lease: if the server crashed in the next few milliseconds and
            # forgot it, the item would simply be offered again. So the claim does not wait for
            # its WAL to reach the disk, which is most of its latency; decisions still do.
            cursor.execute(
                "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(%s, %s)",
                [_ADVISORY_NAMESPACE, user.id],
            )


def _refresh_claim_counters(item: ReviewItem, now) -> None:
    """Lapse expired claims of a locked item and recount its running ones."""
    if item.lease_expires_at is not None and item.lease_expires_at <= now:
        item.assignments.filter(state=ReviewAssignment.State.CLAIMED, lease_expires_at__lte=now).update(
            state=ReviewAssignment.State.EXPIRED, finished_at=now
        )
    running = item.assignments.filter(state=ReviewAssignment.State.CLAIMED).aggregate(
        n=Count("id"), first=Min("lease_expires_at")
    )
    item.active_claims = running["n"]
    item.lease_expires_at = running["first"]


def review_queue_can_review(*, queue: ReviewQueue, user) -> bool:
    return queue.audience == ReviewQueue.Audience.REVIEWERS or user_has_any_role(user, ENGINEERS)


def review_claimable_items(*, queue: ReviewQueue, user, now, skipped: bool | None = None):
    """Open items of the queue with a free reviewer slot (or a lapsed lease) that this reviewer
    may take: not submitted, declined ("not for me") or held by them. `skipped`: only the ones
    they skipped (True), none of them (False), or both (None). The claim query and the counts
    on "My queues" are this one query, so a count never promises what Start cannot give."""
    mine = ReviewAssignment.objects.filter(item=OuterRef("pk"), reviewer=user)
    items = ReviewItem.objects.filter(queue=queue, status=ReviewItem.Status.OPEN).filter(
        Q(lease_expires_at__lte=now) | Q(reviewers_required__gt=F("submitted_count") + F("active_claims"))
    )
    if skipped:
        # One assignment row per (item, reviewer): a skipped one is neither submitted nor held.
        return items.filter(Exists(mine.filter(state=ReviewAssignment.State.SKIPPED)))
    # One anti-join, as fast as the claim query has always been: the hot path of "next".
    blocked = [ReviewAssignment.State.SUBMITTED, ReviewAssignment.State.DECLINED]
    if skipped is False:
        blocked.append(ReviewAssignment.State.SKIPPED)
    blocking = mine.filter(Q(state__in=blocked) | Q(state=ReviewAssignment.State.CLAIMED, lease_expires_at__gt=now))
    return items.filter(~Exists(blocking))


def review_item_claim_next(*, queue: ReviewQueue, user, include_skipped: bool = True) -> Claim | None:
    """The reviewer's running claim in this queue (lease renewed), or a new one; None when the
    queue has nothing left for this reviewer. Items they skipped come last (not at all without
    `include_skipped`: straight after a skip, the next item should be a new one)."""
    if not review_queue_can_review(queue=queue, user=user):
        raise ReviewError(_("this queue is for engineers"))
    now = timezone.now()
    lease = timedelta(seconds=queue.lease_seconds)
    with transaction.atomic():
        _lock_reviewer(user)
        running = (
            ReviewAssignment.objects.select_related("item")
            .filter(
                reviewer=user,
                queue=queue,
                state=ReviewAssignment.State.CLAIMED,
                lease_expires_at__gt=now,
                item__status=ReviewItem.Status.OPEN,
                item__queue=queue,
            )
            .order_by("claimed_at")
            .first()
        )
        if running is not None:
            return Claim(item=running.item, assignment=_renew(running, now + lease), resumed=True)
        fresh = review_claimable_items(queue=queue, user=user, now=now, skipped=False).order_by("-priority", "id")
        # What this reviewer skipped comes back once nothing else is left, the longest-skipped first.
        my_skip = ReviewAssignment.objects.filter(item=OuterRef("pk"), reviewer=user).values("finished_at")[:1]
        skipped = review_claimable_items(queue=queue, user=user, now=now, skipped=True).order_by(
            Subquery(my_skip), "id"
        )
        for candidates in (fresh, skipped) if include_skipped else (fresh,):
            claim = _claim_first(candidates, queue=queue, user=user, now=now, expires=now + lease)
            if claim is not None:
                return claim
        return None


def _claim_first(candidates, *, queue: ReviewQueue, user, now, expires) -> Claim | None:
    passed_over: list[int] = []
    for _attempt in range(20):  # rows whose lapsed lease turns out to leave no slot are passed over
        item = candidates.exclude(id__in=passed_over).select_for_update(skip_locked=True).first()
        if item is None:
            return None
        if item.lease_expires_at is not None and item.lease_expires_at <= now:
            _refresh_claim_counters(item, now)
            if item.submitted_count + item.active_claims >= item.reviewers_required:
                item.save(update_fields=["active_claims", "lease_expires_at"])
                passed_over.append(item.id)
                continue
        # One statement whether this reviewer is new to the item or takes up a released,
        # skipped or lapsed turn again (INSERT ... ON CONFLICT DO UPDATE): every round trip
        # counts here.
        assignment = ReviewAssignment(
            item=item,
            reviewer=user,
            queue=queue,
            state=ReviewAssignment.State.CLAIMED,
            claimed_at=now,
            lease_expires_at=expires,
            finished_at=None,
            decision=None,
        )
        ReviewAssignment.objects.bulk_create(
            [assignment],
            update_conflicts=True,
            unique_fields=["item", "reviewer"],
            update_fields=["queue", "state", "claimed_at", "lease_expires_at", "finished_at", "decision"],
        )
        item.active_claims += 1
        item.lease_expires_at = min(filter(None, [item.lease_expires_at, expires]))
        item.save(update_fields=["active_claims", "lease_expires_at"])
        return Claim(item=item, assignment=assignment, resumed=False)
    return None


def _renew(assignment: ReviewAssignment, expires) -> ReviewAssignment:
    item = ReviewItem.objects.select_for_update().get(id=assignment.item_id)
    assignment.lease_expires_at = expires
    assignment.save(update_fields=["lease_expires_at"])
    _refresh_claim_counters(item, timezone.now())
    item.save(update_fields=["active_claims", "lease_expires_at"])
    assignment.item = item
    return assignment


def review_claim_renew(*, item_id: int, user) -> ReviewAssignment:
    with transaction.atomic():
        assignment = _own_claim(item_id=item_id, user=user)
        return _renew(assignment, timezone.now() + timedelta(seconds=assignment.queue.lease_seconds))


def _own_claim(*, item_id: int, user) -> ReviewAssignment:
    assignment = (
        ReviewAssignment.objects.select_for_update()
        .select_related("queue")
        .filter(item_id=item_id, reviewer=user)
        .first()
    )
    if assignment is None or assignment.state != ReviewAssignment.State.CLAIMED:
        raise ReviewError(_("this item is no longer assigned to you (the claim lapsed, or it was released)"))
    return assignment


def _give_back(*, item_id: int, user, state: str) -> ReviewItem:
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().filter(id=item_id).first()
        if item is None:
            raise ReviewError(_("there is no such item"))
        assignment = _own_claim(item_id=item_id, user=user)
        assignment.state, assignment.finished_at = state, timezone.now()
        assignment.save(update_fields=["state", "finished_at"])
        _refresh_claim_counters(item, timezone.now())
        item.save(update_fields=["active_claims", "lease_expires_at"])
    return item


def review_item_skip(*, item_id: int, user) -> ReviewItem:
    """Give the item back for now: it goes to the back of this reviewer's queue (offered to
    them again once nothing else is left) and is free for everyone else at once."""
    return _give_back(item_id=item_id, user=user, state=ReviewAssignment.State.SKIPPED)


def review_item_decline(*, item_id: int, user) -> ReviewItem:
    """ "Not for me": give the item back and never be offered it again (others still are)."""
    return _give_back(item_id=item_id, user=user, state=ReviewAssignment.State.DECLINED)


def review_item_release(*, item_id: int, user) -> ReviewItem:
    """Give the item back to the pool (anyone, this reviewer included, may take it)."""
    return _give_back(item_id=item_id, user=user, state=ReviewAssignment.State.RELEASED)


def review_item_reveal(*, item: ReviewItem, user, reason: str = "") -> None:
    """Record that `user` chose to read the original text of this item's conversation, personal
    data included (review pages otherwise show the scrubbed text). Engineers and admins only."""
    if not user_has_any_role(user, ENGINEERS):
        raise PermissionDenied("Only engineers and admins may reveal the original text.")
    audit_record(
        actor=user,
        action="review.reveal_original",
        target_type="review_item",
        target_id=item.id,
        detail={"kind": item.kind, "session_id": item.session_id, "reason": reason.strip()[:500]},
    )


# --- submitting and deciding ----------------------------------------------------------------------


def decision_clean(*, item: ReviewItem, kind: ReviewKind, decision: dict) -> dict:
    cleaned = kind.validate_for(item, decision)
    turns = cleaned.get("turns") or {}
    if turns:
        if item.session_id is None:
            raise ValueError(_("this item has no conversation, so it takes no per-turn answers"))
        roles = dict(
            Message.objects.filter(
                session_id=item.session_id, id__in=[int(k) for k in turns], alternative_to__isnull=True
            ).values_list("id", "role")
        )
        for key, turn in turns.items():
            role = roles.get(int(key))
            if role is None:
                raise ValueError(_("message %(message)s is not a turn of this conversation") % {"message": key})
            if ("train" in turn or "edited" in turn) and role != Message.Role.ASSISTANT:
                raise ValueError(
                    _("message %(message)s is a %(role)s turn; only assistant answers are trained on or edited")
                    % {"message": key, "role": message_role(role)}
                )
            if "continuity" in turn and role != Message.Role.USER:
                raise ValueError(
                    _("message %(message)s is a %(role)s turn; topic continuity is judged on user turns")
                    % {"message": key, "role": message_role(role)}
                )
    return cleaned


def review_item_submit(*, item_id: int, user, decision: dict, automatic: bool = False) -> ReviewItem:
    """Record this reviewer's decision; when the last required reviewer submits, decide (or send
    a disagreement to adjudication). ValueError: the decision is invalid and nothing changed.
    `automatic`: a program (the demo) decided, not the person whose login it used; such
    decisions are kept out of the people's figures."""
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().select_related("queue").get(id=item_id)
        assignment = _own_claim(item_id=item_id, user=user)
        if item.status != ReviewItem.Status.OPEN:
            raise ReviewError(
                _("this item is %(status)s; it takes no more decisions") % {"status": status_name(item.status)}
            )
        kind = review_kind_get(item.kind)
        cleaned = decision_clean(item=item, kind=kind, decision=decision)
        now = timezone.now()
        grace = _undo_seconds(automatic=automatic)
        assignment.state, assignment.decision, assignment.finished_at = ReviewAssignment.State.SUBMITTED, cleaned, now
        assignment.automatic = automatic
        assignment.undo_until = now + timedelta(seconds=grace) if grace else None
        assignment.suggested = review_suggestions(item=item).stored()
        assignment.guideline_version = (
            item.queue.guidelines.order_by("-version").values_list("version", flat=True).first()
        )
        assignment.save(
            update_fields=[
                "state",
                "decision",
                "finished_at",
                "automatic",
                "undo_until",
                "suggested",
                "guideline_version",
            ]
        )
        item.submitted_count += 1
        if item.active_claims <= 1:  # only this reviewer's claim was running: nothing to recount
            item.active_claims, item.lease_expires_at = 0, None
        else:
            _refresh_claim_counters(item, now)
        counters = ["submitted_count", "active_claims", "lease_expires_at"]
        if item.reviewers_required == 1 and not grace:
            # The only decision is the final one: one write of the item, one audit record.
            review_item_decide(item=item, decision=cleaned, user=user, also_save=counters)
            return item
        item.save(update_fields=counters)
        audit_record(
            actor=user,
            action="review.submit",
            target_type="review_item",
            target_id=item.id,
            detail={"kind": item.kind, "queue": item.queue.slug, "undo_seconds": grace},
        )
        if grace:
            _finalize_later(item_id=item.id, seconds=grace)
        elif item.submitted_count >= item.reviewers_required:
            _resolve(item, kind)
    return item


# --- the undo period, finalizing, reopening -----------------------------------------------------


def _undo_seconds(*, automatic: bool) -> int:
    # A program's decision has nobody to take it back; inline job mode (foreground scripts) has
    # nothing that would run the finalizing job later.
    if automatic or settings.FLYWHEEL_TASK_MODE == "sync":
        return 0
    return settings.FLYWHEEL_REVIEW_UNDO_SECONDS


FINALIZE_JOB = "review.finalize"


def _finalize_later(*, item_id: int, seconds: float) -> None:
    # One waiting job per item (a second reviewer's submission shares it): a job that runs
    # before every undo period of the item is over puts itself back until the last one ends.
    job_create(
        kind=FINALIZE_JOB,
        payload={"item_id": item_id},
        dedupe_key=f"{FINALIZE_JOB}:{item_id}",
        countdown=seconds + 0.5,
    )


def review_item_finalize(*, item_id: int) -> dict:
    """Decide an item (or send it to adjudication) once its reviewers' undo periods are over.
    Idempotent, and exactly once under retries and duplicate jobs: the status check and the
    decision happen under the item's row lock. {"state": "decided" | "adjudicating" | "waiting"
    | "already" | "gone"}, with "retry_in" seconds while an undo period runs."""
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().select_related("queue").filter(id=item_id).first()
        if item is None:
            return {"state": "gone"}
        if item.status != ReviewItem.Status.OPEN:
            return {"state": "already"}
        now = timezone.now()
        submitted = list(
            item.assignments.filter(state=ReviewAssignment.State.SUBMITTED)
            .select_related("reviewer")
            .order_by("finished_at", "id")
        )
        running = [a.undo_until for a in submitted if a.undo_until is not None and a.undo_until > now]
        if running:
            return {"state": "waiting", "retry_in": (max(running) - now).total_seconds() + 0.5}
        if item.submitted_count < item.reviewers_required:
            return {"state": "waiting"}  # the next reviewer's submission finalizes it
        kind = review_kind_get(item.kind)
        if item.reviewers_required == 1:
            review_item_decide(item=item, decision=submitted[-1].decision, user=submitted[-1].reviewer)
            return {"state": "decided"}
        _resolve(item, kind)
        return {"state": "decided" if item.status == ReviewItem.Status.DONE else "adjudicating"}


def review_item_undo(*, item_id: int, user) -> ReviewItem:
    """Take back one's own decision while its undo period runs: the item is this reviewer's
    claim again, their decision kept as a draft for the form. ReviewError once it is final."""
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().select_related("queue").filter(id=item_id).first()
        if item is None:
            raise ReviewError(_("there is no such item"))
        assignment = ReviewAssignment.objects.select_for_update().filter(item=item, reviewer=user).first()
        now = timezone.now()
        if (
            assignment is None
            or assignment.state != ReviewAssignment.State.SUBMITTED
            or assignment.undo_until is None
            or assignment.undo_until <= now
            or item.status != ReviewItem.Status.OPEN
        ):
            raise ReviewError(_("too late to undo: that decision is final (an engineer can reopen the item)"))
        expires = now + timedelta(seconds=item.queue.lease_seconds)
        assignment.state, assignment.finished_at, assignment.undo_until = ReviewAssignment.State.CLAIMED, None, None
        assignment.claimed_at, assignment.lease_expires_at = now, expires
        assignment.save(update_fields=["state", "finished_at", "undo_until", "claimed_at", "lease_expires_at"])
        item.submitted_count -= 1
        item.active_claims += 1
        item.lease_expires_at = min(filter(None, [item.lease_expires_at, expires]))
        item.save(update_fields=["submitted_count", "active_claims", "lease_expires_at"])
        audit_record(
            actor=user, action="review.undo", target_type="review_item", target_id=item.id, detail={"kind": item.kind}
        )
    return item


def review_item_reopen(*, item_id: int, user, reason: str = "") -> ReviewItem:
    """An engineer takes a final decision back: the item is open again for new reviews (its
    reviewers included), its decision withdrawn (kept in the audit log and on the assignments)
    until a new one is final and applied. Engineers and admins only; recorded."""
    if not user_has_any_role(user, ENGINEERS):
        raise PermissionDenied(_("Only engineers and admins may reopen a decided item."))
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().filter(id=item_id).first()
        if item is None:
            raise ReviewError(_("there is no such item"))
        if item.kind == ADJUDICATION:
            raise ReviewError(_("reopen the item the reviewers disagreed on, not its adjudication"))
        if item.status != ReviewItem.Status.DONE:
            raise ReviewError(
                _("this item is %(status)s, not decided: there is nothing to reopen") % {"status": item.status}
            )
        previous = {"decision": item.final_decision, "decided_by": getattr(item.decided_by, "username", None)}
        item.assignments.filter(state=ReviewAssignment.State.SUBMITTED).update(
            state=ReviewAssignment.State.WITHDRAWN, undo_until=None
        )
        item.status, item.final_decision, item.decided_by, item.decided_at = ReviewItem.Status.OPEN, None, None, None
        item.submitted_count = 0
        item.save(update_fields=["status", "final_decision", "decided_by", "decided_at", "submitted_count"])
        audit_record(
            actor=user,
            action="review.reopen",
            target_type="review_item",
            target_id=item.id,
            detail={"kind": item.kind, "reason": reason.strip()[:500], **previous},
        )
        ReviewQueue.objects.filter(id=item.queue_id).update(items_finished=F("items_finished") - 1)
    return item


def disagreements(*, item: ReviewItem, kind: ReviewKind, decisions: list[dict]) -> list[str]:
    """The units (fields, per-turn controls, edited answers) the reviewers answered differently."""
    seen: dict[tuple[str, str], set] = {}
    for decision in decisions:
        units = kind.agreement_units(item, decision)
        for message_id, turn in (decision.get("turns") or {}).items():
            units[("edited", message_id)] = turn.get("edited", "")
        for unit in set(units) | set(seen):
            seen.setdefault(unit, set()).add(units.get(unit))
    return sorted(f"{field}:{unit}" if unit else field for (field, unit), values in seen.items() if len(values) > 1)


def _resolve(item: ReviewItem, kind: ReviewKind) -> None:
    submitted = list(
        item.assignments.filter(state=ReviewAssignment.State.SUBMITTED)
        .select_related("reviewer")
        .order_by("finished_at", "id")
    )
    decisions = [a.decision for a in submitted]
    differing = disagreements(item=item, kind=kind, decisions=decisions) if len(decisions) > 1 else []
    if not differing:
        review_item_decide(item=item, decision=decisions[0], user=submitted[-1].reviewer)
        return
    item.status = ReviewItem.Status.ADJUDICATING
    item.save(update_fields=["status"])
    adjudication = review_item_enqueue(
        kind=ADJUDICATION,
        subject_type="review_item",
        subject_id=str(item.id),
        parent_id=item.id,
        session_id=item.session_id,
        message_id=item.message_id,
        priority=item.priority,
        payload={
            "kind": item.kind,
            "queue": item.queue.slug,
            "disagreements": differing,
            "decisions": [{"reviewer": a.reviewer.username, "decision": a.decision} for a in submitted],
        },
    )
    audit_record(
        actor=None,
        action="review.disagreement",
        target_type="review_item",
        target_id=item.id,
        detail={"adjudication_item": adjudication.id, "disagreements": differing},
    )


def review_item_decide(*, item: ReviewItem, decision: dict, user, also_save: list[str] | tuple = ()) -> None:
    """Record the final decision of a locked item and let its kind act on it (exactly once:
    the status check and the write happen under the row lock)."""
    if item.status not in (ReviewItem.Status.OPEN, ReviewItem.Status.ADJUDICATING):
        raise ReviewError(_("this item is already %(status)s") % {"status": item.status})
    item.status, item.final_decision = ReviewItem.Status.DONE, decision
    item.decided_by, item.decided_at = user, timezone.now()
    item.save(update_fields=["status", "final_decision", "decided_by", "decided_at", *also_save])
    review_kind_get(item.kind).apply_final(item, decision, user)
    audit_record(
        actor=user,
        action="review.decide",
        target_type="review_item",
        target_id=item.id,
        detail={"kind": item.kind, "decision": decision},
    )
    # Last, so the queue row is locked for as short a time as possible.
    ReviewQueue.objects.filter(id=item.queue_id).update(items_finished=F("items_finished") + 1)
