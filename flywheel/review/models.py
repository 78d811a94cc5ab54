"""Review queues, the items in them and who reviewed what.

An item is one thing to judge (an answer, a label, a session's topic splits, a preference
pair) of one *kind* (flywheel/review/kinds.py), waiting in one queue. A reviewer takes an item
with a claim (a `ReviewAssignment` whose lease runs out); an item needs `reviewers_required`
distinct reviewers. The counters on the item (`submitted_count`, `active_claims`,
`lease_expires_at` = the earliest running lease) let the claim query decide from the item row
alone whether it can be offered, so it stays an index walk at millions of items.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReviewQueue(models.Model):
    class Audience(models.TextChoices):
        REVIEWERS = "reviewers", "Annotators and engineers"
        ENGINEERS = "engineers", "Engineers only"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=32, help_text="The kind of item this queue holds.")
    description = models.TextField(blank=True)
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text="Items of this kind routed without an explicit queue land here when they match, "
        'e.g. {"app": "support-bot", "model_version": "v7", "payload": {"language": "zh"}}.',
    )
    priority = models.IntegerField(default=0, help_text="Higher first, on the annotators' page and in routing.")
    reviewers_per_item = models.PositiveSmallIntegerField(default=1)
    lease_seconds = models.PositiveIntegerField(default=900, help_text="A claim not submitted in this time lapses.")
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.REVIEWERS)
    is_default = models.BooleanField(default=False, help_text="The kind's fallback queue.")
    active = models.BooleanField(default=True)
    # Kept by the services in the same transactions that add and finish items, so the progress
    # bar never counts a big table.
    items_total = models.BigIntegerField(default=0)
    items_finished = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(is_default=True), name="review_one_default_queue_per_kind"
            ),
            models.CheckConstraint(condition=Q(reviewers_per_item__gte=1), name="review_queue_needs_a_reviewer"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=10), name="review_queue_lease_at_least_10s"),
        ]

    def __str__(self) -> str:
        return self.name


class ReviewItem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"  # waiting for (more) reviewers
        ADJUDICATING = "adjudicating"  # reviewers disagreed; an adjudication item decides
        DONE = "done"  # final decision reached and applied
        CANCELLED = "cancelled"

    queue = models.ForeignKey(ReviewQueue, on_delete=models.PROTECT, related_name="items")
    kind = models.CharField(max_length=32)
    subject_type = models.CharField(max_length=32, help_text="message, session, label, pair, review_item, ...")
    subject_id = models.CharField(max_length=128)
    payload = models.JSONField(default=dict, blank=True)
    session = models.ForeignKey(
        "ingest.ChatSession", null=True, blank=True, on_delete=models.CASCADE, related_name="review_items"
    )
    message = models.ForeignKey(
        "ingest.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="review_items"
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="adjudications",
        help_text="For an adjudication item: the item whose reviewers disagreed.",
    )
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    reviewers_required = models.PositiveSmallIntegerField(default=1)
    submitted_count = models.PositiveSmallIntegerField(default=0)
    active_claims = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True, help_text="Earliest running lease.")
    final_decision = models.JSONField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "subject_type", "subject_id"], name="review_item_once_per_queue"),
        ]
        indexes = [
            # Claim-next and the engineers' list: one queue, one status, by priority then age.
            models.Index("queue", "status", models.F("priority").desc(), "id", name="review_item_queue_order"),
            models.Index(fields=["kind", "subject_type", "subject_id"], name="review_item_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_type}:{self.subject_id}"


class ReviewAssignment(models.Model):
    """One reviewer's turn on one item; at most one row per (item, reviewer), so the same
    person never counts twice towards the reviewers an item needs."""

    class State(models.TextChoices):
        CLAIMED = "claimed"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"  # offered to this reviewer again, after everything else in the queue
        DECLINED = "declined"  # "not for me": never offered to this reviewer again
        RELEASED = "released"  # given back; anyone may take it
        EXPIRED = "expired"  # the lease ran out
        WITHDRAWN = "withdrawn"  # submitted, then an engineer reopened the item: it counts no more

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="assignments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_assignments")
    queue = models.ForeignKey(
        ReviewQueue, on_delete=models.PROTECT, related_name="+", help_text="The queue the item was in when claimed."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLAIMED)
    claimed_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    decision = models.JSONField(null=True, blank=True)
    undo_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A submitted decision can be undone until then; only after it is the item decided and applied.",
    )
    suggested = models.JSONField(
        default=dict,
        blank=True,
        help_text="The suggestions the reviewer was shown, pre-selected (flywheel/review/suggestions.py): "
        "the agreement page counts how often they were kept.",
    )
    guideline_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version of the queue's guidelines shown when this decision was made."
    )
    automatic = models.BooleanField(
        default=False,
        help_text="Submitted by a program (the demo), not a person: left out of agreement, throughput and My day.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "reviewer"], name="review_assignment_once_per_reviewer"),
        ]
        indexes = [
            models.Index(fields=["reviewer", "state", "finished_at"], name="review_assignment_by_reviewer"),
            models.Index(fields=["state", "finished_at"], name="review_assignment_finished"),
            models.Index(fields=["queue", "state", "finished_at"], name="review_assignment_by_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} on {self.item_id} ({self.state})"


class QueueGuideline(models.Model):
    """One version of a queue's guidelines for its reviewers (Markdown, shown rendered and
    sanitised on the item page and in the shortcut help). Versions are never edited: a change
    is a new version, so every decision can name the guidelines it was made under."""

    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="guidelines")
    version = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["queue", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "version"], name="review_guideline_version_once_per_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.queue} guidelines v{self.version}"
