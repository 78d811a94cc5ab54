"""Versioned datasets: builds (requests, run as jobs), immutable content-addressed versions,
and the samples of each version.

A version is identified by the hash of its canonical samples and its build config
(`content_hash`); building the same inputs again finds the existing version instead of adding
a second one. Nothing updates a version or its samples after the build that created them:
there is no service that does, and the admin shows them read-only.
"""

from django.conf import settings
from django.db import models


class DatasetVersion(models.Model):
    content_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the canonical samples and config.")
    name = models.CharField(max_length=120, blank=True, help_text="Given by whoever asked for the first build.")
    config = models.JSONField(default=dict, help_text="The build config, canonical (what the hash covers).")
    manifest = models.JSONField(default=dict, help_text="Counts, token statistics, hashes and lineage summary.")
    sample_count = models.PositiveIntegerField(default=0)
    sft_count = models.PositiveIntegerField(default=0)
    pair_count = models.PositiveIntegerField(default=0)
    train_count = models.PositiveIntegerField(default=0, help_text="Conversations (SFT) in the train split.")
    eval_count = models.PositiveIntegerField(default=0, help_text="Conversations (SFT) in the eval split.")
    token_total = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"v{self.pk} {self.name or self.content_hash[:12]}"

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


class DatasetSample(models.Model):
    """One sample of one version: an SFT conversation or a preference pair, its split, and
    where it came from."""

    class Split(models.TextChoices):
        TRAIN = "train"
        EVAL = "eval"

    class Kind(models.TextChoices):
        SFT = "sft"
        PAIR = "pair"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="samples")
    position = models.PositiveIntegerField(help_text="Order in the version (and in its exports).")
    split = models.CharField(max_length=8, choices=Split.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    sample_hash = models.CharField(max_length=64, help_text="sha256 of the canonical content.")
    task_type = models.CharField(max_length=64)
    source = models.CharField(max_length=32)
    weight = models.FloatField(default=1.0, help_text="Loss weight (the task-type mix weight above 1).")
    pseudo_multi_turn = models.BooleanField(default=False)
    reviewed = models.BooleanField(default=False)
    token_count = models.PositiveIntegerField(default=0)
    # The session the sample came from, when exactly one (the session page lists its versions).
    session_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    record = models.JSONField(help_text="Canonical content: messages with train flags, or prompt/chosen/rejected.")
    lineage = models.JSONField(default=dict, help_text="Source rows: message ids, review items, versions used.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="dataset_sample_position"),
            models.UniqueConstraint(fields=["version", "sample_hash"], name="dataset_sample_once_per_version"),
        ]
        indexes = [
            models.Index(fields=["sample_hash"]),
            models.Index(fields=["version", "kind", "split", "position"], name="dataset_sample_export_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sample_hash[:12]} in v{self.version_id}"


class DatasetBuild(models.Model):
    """A request to build a version, run as a job. Several builds may end in one version
    (the same inputs give the same content hash)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    name = models.CharField(max_length=120, blank=True)
    config = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    job = models.OneToOneField(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="dataset_build"
    )
    version = models.ForeignKey(DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="builds")
    reused = models.BooleanField(default=False, help_text="The content hash matched an existing version.")
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"build #{self.pk} ({self.status})"
