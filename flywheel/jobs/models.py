from django.conf import settings
from django.db import models


class Job(models.Model):
    """A long piece of work. The row, not the broker message, is the source of truth: a lost
    message is found again by the sweeper, and the UI reads progress from here."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        # Failed in a way retrying will not fix; waits for an engineer to re-drive it.
        DEAD = "dead"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.DEAD)

    kind = models.CharField(max_length=64, db_index=True)
    queue = models.CharField(max_length=16, default="default")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    payload = models.JSONField(default=dict, blank=True, help_text="Primitive arguments (ids, options).")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True, blank=True)
    progress_note = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    # Requests for the same work while a job for it still waits share that job ("run the
    # pipeline on new data" asked a thousand times between two runs is one run).
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=models.Q(status="queued", attempts=0),
                name="job_one_waiting_per_dedupe_key",
            )
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"]),
            models.Index(fields=["status", "enqueued_at"]),
            models.Index(fields=["kind", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return 100 if self.status == self.Status.SUCCEEDED else None
        return min(100, int(100 * self.progress_done / self.progress_total))
