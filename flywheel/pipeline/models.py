from django.db import models


class Cursor(models.Model):
    """How far one reader of new data (a bad-case source, a routing rule) has read its source
    table, so a pipeline run looks only at rows it has not seen (and a short window behind them,
    see flywheel.pipeline.cursors). Losing one is harmless: every reader is idempotent, and reads
    its rows again changing nothing. Read and move it through flywheel.pipeline.cursors."""

    name = models.CharField(
        max_length=100, unique=True, help_text='"<reader kind>:<name>", e.g. "routing-rule:labels-to-review"'
    )
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class CursorMark(models.Model):
    """Where a cursor was at a moment: the recent history a reader re-reads from, because a row
    with a lower id than the cursor can still be committed after the cursor passed it. Only the
    last FLYWHEEL_CURSOR_REREAD_S seconds (and the mark just before) are kept."""

    cursor = models.ForeignKey(Cursor, on_delete=models.CASCADE, related_name="marks")
    position = models.BigIntegerField()
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["cursor", "at"])]

    def __str__(self) -> str:
        return f"{self.cursor_id} @ {self.position} ({self.at:%Y-%m-%d %H:%M:%S})"
