"""Per-queue guidelines: what reviewers of a queue should know (Markdown), edited by engineers,
every change a new version. Writes and reads of this one noun, kept beside the services."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from flywheel.accounts.roles import ENGINEERS, user_has_any_role
from flywheel.accounts.services import audit_record
from flywheel.review.models import QueueGuideline, ReviewQueue

GUIDELINE_MAX_CHARS = 50_000


def review_guideline_current(*, queue: ReviewQueue) -> QueueGuideline | None:
    return queue.guidelines.order_by("-version").first()


def review_guideline_versions(*, queue: ReviewQueue) -> list[QueueGuideline]:
    return list(queue.guidelines.select_related("created_by").order_by("-version"))


def review_guideline_save(*, queue: ReviewQueue, user, body: str) -> QueueGuideline:
    """A new version of the queue's guidelines (the current one when nothing changed).
    ValueError says what is wrong with the text."""
    if not user_has_any_role(user, ENGINEERS):
        raise PermissionDenied(_("Only engineers and admins edit guidelines."))
    if not isinstance(body, str):
        raise ValueError(_("the guidelines must be text"))
    body = body.replace("\r\n", "\n").strip()
    if len(body) > GUIDELINE_MAX_CHARS:
        raise ValueError(
            _("the guidelines are %(n)s characters long; at most %(max)s fit")
            % {"n": len(body), "max": GUIDELINE_MAX_CHARS}
        )
    current = review_guideline_current(queue=queue)
    if current is not None and current.body == body:
        return current
    if current is None and not body:
        raise ValueError(_("write the guidelines first: there is nothing to save"))
    try:
        with transaction.atomic():
            guideline = QueueGuideline.objects.create(
                queue=queue, version=(current.version + 1 if current else 1), body=body, created_by=user
            )
            audit_record(
                actor=user,
                action="review.guideline.edit",
                target_type="review_queue",
                target_id=queue.slug,
                detail={"version": guideline.version, "chars": len(body)},
            )
    except IntegrityError:  # two engineers saved at once: the other one's version stands
        raise ValueError(_("someone else saved a new version just now; reload and apply your change to it")) from None
    return guideline
