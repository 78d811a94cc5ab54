from flywheel.jobs.models import Job


def jobs_recent(*, limit: int = 20, kind_prefix: str | None = None, before_id: int | None = None):
    """Newest first, paged by id (no OFFSET)."""
    qs = Job.objects.all()
    if kind_prefix:
        qs = qs.filter(kind__startswith=kind_prefix)
    if before_id:
        qs = qs.filter(id__lt=before_id)
    return list(qs.order_by("-id")[:limit])


def jobs_dead(*, limit: int = 50):
    return list(Job.objects.filter(status=Job.Status.DEAD).order_by("-id")[:limit])
