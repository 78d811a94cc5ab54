from django.db import models


class DailyStats(models.Model):
    """Per-day, per-model-version counts, folded in incrementally from new rows so the
    dashboard never scans the message table."""

    day = models.DateField()
    model_version = models.CharField(max_length=128, blank=True)
    sessions = models.BigIntegerField(default=0)
    messages = models.BigIntegerField(default=0)
    thumbs_up = models.BigIntegerField(default=0)
    thumbs_down = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "model_version"], name="daily_stats_unique_day_model")]


class RollupWatermark(models.Model):
    """The highest row id of a source table already folded into DailyStats."""

    source = models.CharField(max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
