"""Topic continuity: classifier versions, per-turn predictions, session segments, human labels.

For every user turn after the first, a prediction holds P(the turn continues the session's
topic) under one classifier version. A session whose predictions show a switch is pseudo
multi-turn: it is cut into segments at the switches, each a self-contained sample.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ContinuityModelVersion(models.Model):
    """A trained classifier: its artifact directory, what it was trained on, and its held-out
    evaluation report. One version is active: the pipeline predicts with it."""

    version = models.CharField(max_length=64, unique=True)
    path = models.CharField(max_length=1024)
    active = models.BooleanField(default=False)
    threshold = models.FloatField()
    embedding_model = models.CharField(max_length=255, blank=True)
    training = models.JSONField(default=dict, blank=True, help_text="What it was trained on (counts, sources).")
    evaluation = models.JSONField(default=dict, blank=True, help_text="Held-out report, with the baseline.")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="continuity_one_active_version")
        ]

    def __str__(self) -> str:
        return self.version


class SessionContinuity(models.Model):
    """One session processed by one classifier version: the marker that it is done, and its
    summary (switches, uncertain turns for review)."""

    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="continuity_runs")
    model_version = models.CharField(max_length=64)
    user_turns = models.PositiveIntegerField()
    switches = models.PositiveIntegerField(default=0)
    pseudo_multi_turn = models.BooleanField(default=False)
    uncertain_message_ids = models.JSONField(default=list, blank=True)
    last_message_id = models.BigIntegerField(default=0, help_text="Newest message seen; newer ones mean predict again.")
    predicted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "model_version"], name="continuity_session_once_per_version")
        ]
        indexes = [models.Index(fields=["model_version", "pseudo_multi_turn"])]


class ContinuityPrediction(models.Model):
    message = models.ForeignKey("ingest.Message", on_delete=models.CASCADE, related_name="continuity_predictions")
    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="+")
    model_version = models.CharField(max_length=64)
    probability = models.FloatField(help_text="P(the user turn continues the session's topic).")
    continues = models.BooleanField()
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "model_version"], name="continuity_prediction_once")]
        indexes = [models.Index(fields=["session", "model_version"])]


class Segment(models.Model):
    """A self-contained piece of a session, from first_seq to last_seq (transcript positions).
    `pseudo_multi_turn`: the session it came from switched topic (so it was cut)."""

    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="segments")
    model_version = models.CharField(max_length=64)
    index = models.PositiveIntegerField()
    first_seq = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField()
    user_turns = models.PositiveIntegerField()
    pseudo_multi_turn = models.BooleanField(default=False)

    class Meta:
        ordering = ["session_id", "index"]
        constraints = [models.UniqueConstraint(fields=["session", "model_version", "index"], name="segment_unique")]


class ContinuityHumanLabel(models.Model):
    """A reviewer's answer to "does this user turn continue the topic?" (a later one replaces an
    earlier one). Training uses these as labels; the UI compares predictions against them."""

    message = models.OneToOneField("ingest.Message", on_delete=models.CASCADE, related_name="continuity_label")
    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="+")
    continues = models.BooleanField()
    review_item_id = models.BigIntegerField(null=True, blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now=True)
