from flywheel.jobs.models import Job
from flywheel.ui.paging import KeysetPage, keyset_page


def jobs_recent(*, limit: int = 20) -> list[Job]:
    return list(Job.objects.order_by("-id")[:limit])


def jobs_page(*, kind_prefix: str | None = None, before: int | None = None, size: int = 50) -> KeysetPage:
    """Newest first, paged by id."""
    qs = Job.objects.all()
    if kind_prefix:
        qs = qs.filter(kind__startswith=kind_prefix)
    return keyset_page(qs, past=before, size=size)
