from django.db import models


class Cursor(models.Model):
    """How far one reader of new data (a bad-case source, a routing rule) has read its source
    table, so a pipeline run looks only at rows it has not seen. Losing one is harmless: every
    reader is idempotent, and reads its rows again changing nothing. Read and move it through
    flywheel.pipeline.cursors."""

    name = models.CharField(
        max_length=100, unique=True, help_text='"<reader kind>:<name>", e.g. "routing-rule:labels-to-review"'
    )
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"
