from django.db import models


class SelfTestMark(models.Model):
    """Written once by each completed self-test job: proves a worker ran it, and ran it once.
    The app has no migrations, so the test database creates its table directly, before the
    product's migrations run: hence a plain job id, not a foreign key to jobs.Job."""

    job_id = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
