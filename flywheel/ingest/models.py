"""What the chat product logs: sessions, their ordered messages, feedback and preference pairs.

Rows are keyed by the client's own ids (`external_id`, unique per installation), which is what
makes a resent batch or a re-imported file change nothing. Lookups by external id and by time
are covered by unique indexes and time indexes; at tens of millions of messages these tables
are the ones to partition by time (see README, "Scaling out").
"""

from django.db import models
from django.db.models import Q


class ChatSession(models.Model):
    external_id = models.CharField(max_length=128, unique=True)
    app = models.CharField(max_length=64, blank=True, help_text="The product or bot that logged the session.")
    channel = models.CharField(max_length=64, blank=True, help_text="Web, app, API, ...")
    anon_user_id = models.CharField(
        max_length=64, blank=True, help_text="Keyed hash of the client's user id; never the id itself."
    )
    model_version = models.CharField(max_length=128, blank=True, help_text="Model that answered.")
    started_at = models.DateTimeField()
    metadata = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=32, help_text="api, import:<format>, demo")
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["started_at"]),
            models.Index(fields=["app", "started_at"]),
            models.Index(fields=["model_version", "started_at"]),
        ]

    def __str__(self) -> str:
        return self.external_id


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"
        TOOL = "tool"

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    external_id = models.CharField(max_length=128, unique=True)
    # Position in the session's transcript, from 1. An alternative answer shares the position
    # of the answer it competes with.
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    model_version = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField()
    # Set on a second answer to the same context (a regeneration, the rejected side of a
    # preference pair); such messages are not part of the transcript.
    alternative_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="alternatives", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "seq"], condition=Q(alternative_to__isnull=True), name="message_unique_position"
            ),
        ]
        # Every index here is paid on each ingested message: the session's own FK index serves
        # per-session reads, and alternatives (rare) get a small partial index of their own.
        indexes = [
            models.Index(fields=["created_at"]),
            models.Index(
                fields=["alternative_to"], condition=Q(alternative_to__isnull=False), name="message_alternative_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.role})"


class Feedback(models.Model):
    external_id = models.CharField(max_length=128, unique=True)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    rating = models.SmallIntegerField(help_text="+1 thumbs up, -1 thumbs down")
    comment = models.TextField(blank=True)
    reasons = models.JSONField(default=list, blank=True, help_text="Reason tags chosen by the user.")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(rating__in=[-1, 1]), name="feedback_rating_is_thumb")]
        indexes = [models.Index(fields=["created_at"]), models.Index(fields=["rating", "created_at"])]


class PreferencePair(models.Model):
    """Two answers to one context where the source says which was better."""

    external_id = models.CharField(max_length=128, unique=True)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="preference_pairs")
    chosen = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="chosen_in_pairs")
    rejected = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="rejected_in_pairs")
    source = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(chosen=models.F("rejected")), name="pair_answers_differ")]


class ImportFile(models.Model):
    """One uploaded or command-line import, with its job and its report."""

    name = models.CharField(max_length=255)
    path = models.CharField(max_length=1024)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.BigIntegerField()
    format = models.CharField(max_length=16)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL)
    report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-id"]
