"""What the LLM client keeps: validated answers by cache key, and token/cost totals per job."""

from django.db import models


class LLMCacheEntry(models.Model):
    """A validated answer, keyed by the hash of (model, prompt version, messages, schema).

    Only answers that passed validation are stored, so a cache hit never replays a bad answer.
    """

    key = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16)
    model = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=64)
    content = models.TextField(help_text="The raw text the model answered.")
    parsed = models.JSONField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "LLM cache entries"


class LLMUsage(models.Model):
    """Token and cost totals of one job (or of foreground calls, job = null) per role and model.

    Rows are upserted with F() increments, so concurrent calls never lose a count.
    """

    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.CASCADE, related_name="llm_usage")
    role = models.CharField(max_length=16)
    model = models.CharField(max_length=128)
    calls = models.PositiveIntegerField(default=0, help_text="HTTP requests that returned an answer.")
    failed_calls = models.PositiveIntegerField(default=0, help_text="429, 5xx, timeouts, broken bodies.")
    cache_hits = models.PositiveIntegerField(default=0)
    reasks = models.PositiveIntegerField(default=0, help_text="Answers re-asked for invalid JSON or schema.")
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "role", "model"], name="llm_usage_one_row_per_job_role_model"),
            models.UniqueConstraint(
                fields=["role", "model"], condition=models.Q(job__isnull=True), name="llm_usage_one_foreground_row"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}/{self.model} job={self.job_id}"
