"""Training runs launched from the browser and what they reported.

The run directory (on the `gpu` worker's disk) is the trainer's contract; everything the web
pages show is copied into these rows by the worker while it tails the directory, so the web
tier needs no access to the GPU host's files.
"""

from django.conf import settings
from django.db import models


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    FINISHED = (Status.COMPLETED, Status.CANCELLED, Status.FAILED)

    name = models.CharField(max_length=120, blank=True)
    dataset_version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.PROTECT, related_name="runs")
    base_model_path = models.CharField(max_length=1024)
    hyperparameters = models.JSONField(default=dict, help_text="The trainer's config fields chosen for this run.")
    plan = models.JSONField(
        default=dict,
        blank=True,
        help_text="Training strategy over dataset versions: strategy, "
        "versions, specialist task types, DMT share and the stages it gave (flywheel/runs/plans.py); "
        "empty: one stage on the dataset version.",
    )
    distributed = models.CharField(max_length=16, default="auto", help_text="auto, ddp or zero2 (with several GPUs).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey(
        "jobs.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The latest job that runs (or ran) this training.",
    )
    run_dir = models.CharField(max_length=1024, blank=True)
    launcher = models.CharField(max_length=200, blank=True, help_text="How the trainer was started, e.g. torchrun x8.")
    processes = models.PositiveSmallIntegerField(default=1)
    launches = models.PositiveIntegerField(default=0, help_text="Trainer processes started (resumes included).")
    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(null=True, blank=True)
    first_loss = models.FloatField(null=True, blank=True)
    last_loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    channels = models.JSONField(default=list, blank=True, help_text="Task types reported as loss channels.")
    checkpoints = models.JSONField(
        default=list, blank=True, help_text="[{step, stage, path}] complete checkpoints on disk."
    )
    alerts = models.JSONField(
        default=list, blank=True, help_text="The trainer's health alerts (metrics.jsonl alert lines)."
    )
    resumed_from = models.CharField(max_length=1024, blank=True)
    log_tail = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="The trainer's result.json.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"run #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress_percent(self) -> int | None:
        if not self.total_steps:
            return 100 if self.status == self.Status.COMPLETED else None
        return min(100, int(100 * self.current_step / self.total_steps))


class RunMetric(models.Model):
    """One line of metrics.jsonl. Written by (run, kind, step), later lines replacing earlier
    ones of the same step (a resumed run logs those steps again), so tailing the file twice
    changes nothing."""

    class Kind(models.TextChoices):
        TRAIN = "train"
        EVAL = "eval"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    step = models.PositiveIntegerField()
    loss = models.FloatField(null=True, blank=True, help_text="Train: the global-batch loss; eval: the eval loss.")
    lr = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    padding_ratio = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    epoch = models.FloatField(null=True, blank=True)
    channels = models.JSONField(default=dict, blank=True, help_text="{task type: loss}")
    stage = models.CharField(max_length=64, blank=True, help_text="The stage of the run's plan this step belongs to.")
    logged_at = models.FloatField(null=True, blank=True, help_text="Unix time the trainer wrote the line.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "kind", "step"], name="run_metric_once_per_step")]

    def __str__(self) -> str:
        return f"{self.kind} step {self.step} of run {self.run_id}"
