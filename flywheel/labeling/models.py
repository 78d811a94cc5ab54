"""Labels of sessions (task type, quality, flags) and the work queue of LLM labeling.

A label belongs to one session and one (prompt version, model): asking again with the same
prompt and model changes nothing (unique constraint), a new prompt version or model adds a
label beside the old one. `source` says who labelled: the LLM, the offline labeler (a task-type
classifier + quality heuristics; shown as "offline" everywhere) or a reviewer.
"""

from django.db import models
from django.db.models import Q


class Label(models.Model):
    class Source(models.TextChoices):
        LLM = "llm"
        OFFLINE = "offline"
        HUMAN = "human"

    class Difficulty(models.TextChoices):
        EASY = "easy"
        MEDIUM = "medium"
        HARD = "hard"

    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="labels")
    source = models.CharField(max_length=8, choices=Source.choices)
    prompt_version = models.CharField(max_length=32, help_text="Prompt (or offline labeler) version.")
    prompt_language = models.CharField(max_length=8, blank=True, help_text="Which language variant of the prompt.")
    model = models.CharField(max_length=128, help_text="LLM, offline:<embedding model>, or human:<username>.")
    taxonomy_version = models.CharField(max_length=16, blank=True)

    task_type = models.CharField(max_length=32)
    task_subtype = models.CharField(max_length=32, blank=True)
    language = models.CharField(max_length=16, blank=True)
    difficulty = models.CharField(max_length=8, choices=Difficulty.choices, blank=True)
    helpfulness = models.PositiveSmallIntegerField(null=True, blank=True)
    honesty = models.PositiveSmallIntegerField(null=True, blank=True)
    harmlessness = models.PositiveSmallIntegerField(null=True, blank=True)
    instruction_following = models.PositiveSmallIntegerField(null=True, blank=True)
    quality = models.PositiveSmallIntegerField(help_text="Overall 1-5: the rounded mean of the four dimensions.")
    hallucination = models.BooleanField(default=False)
    safety_flag = models.BooleanField(default=False)
    usable = models.BooleanField()
    reason = models.TextField(blank=True)
    # The offline labeler's calibrated probability of its task type; below the threshold the label
    # is uncertain: kept, shown as such, and routed to label review.
    confidence = models.FloatField(null=True, blank=True, help_text="Offline labeler: probability of the task type.")
    uncertain = models.BooleanField(default=False, help_text="The task type is a guess: it waits for a reviewer.")

    # A label whose input tried to steer the labeler is kept for review but never trusted.
    trusted = models.BooleanField(default=True)
    injection_flagged = models.BooleanField(default=False)
    injection_signals = models.JSONField(default=list, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the scrubbed transcript labelled.")
    raw = models.JSONField(default=dict, blank=True, help_text="The labeler's answer as it came.")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "prompt_version", "model"], name="label_one_per_session_prompt_model"
            ),
            models.CheckConstraint(condition=Q(quality__gte=1, quality__lte=5), name="label_quality_1_to_5"),
        ]
        indexes = [
            models.Index(fields=["source", "task_type"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["injection_flagged", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.task_type}/{self.task_subtype} q{self.quality} ({self.source})"


class LabelTask(models.Model):
    """One session waiting for (or done with) an LLM label for a (prompt version, model).

    The row is the outbox and the dead-letter queue at once: the pipeline stage adds rows and
    hands pending ones to jobs; a job marks them done, or dead when the labeler's answer stayed
    invalid after the re-asks (or the text could not be scrubbed). Engineers see dead rows and
    re-drive them.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        DONE = "done"
        DEAD = "dead"

    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="label_tasks")
    prompt_version = models.CharField(max_length=32)
    model = models.CharField(max_length=128)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    dead_attempts = models.PositiveIntegerField(default=0, help_text="Times this task was dead-lettered.")
    error = models.TextField(blank=True)
    answers = models.JSONField(default=list, blank=True, help_text="The invalid answers, for the engineer.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "prompt_version", "model"], name="label_task_one_per_session_prompt_model"
            ),
        ]
        indexes = [models.Index(fields=["status", "id"])]

    def __str__(self) -> str:
        return f"label task {self.session_id} {self.prompt_version}/{self.model}: {self.status}"
