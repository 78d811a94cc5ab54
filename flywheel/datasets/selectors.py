"""Reads of the dataset builder: versions and builds by key, a version's samples by position,
the diff of two versions, and the versions a session's messages went into."""

from __future__ import annotations

from collections import Counter

from django.db.models import Count

from flywheel.datasets.models import DatasetBuild, DatasetSample, DatasetVersion
from flywheel.ui.paging import keyset_page

PAGE_SIZE = 50


def dataset_versions_page(*, before_id: int | None = None, size: int = PAGE_SIZE) -> dict:
    qs = DatasetVersion.objects.select_related("created_by").defer("manifest", "config")
    page = keyset_page(qs, past=before_id, size=size)
    return {"versions": page.rows, "next_before": page.next_key}


def dataset_versions_for_choice(*, limit: int = 200) -> list[DatasetVersion]:
    return list(DatasetVersion.objects.defer("manifest", "config").order_by("-id")[:limit])


def dataset_builds_recent(*, limit: int = 10) -> list[DatasetBuild]:
    return list(DatasetBuild.objects.select_related("job", "version", "created_by").order_by("-id")[:limit])


def dataset_samples_page(
    *,
    version: DatasetVersion,
    split: str = "",
    kind: str = "",
    task_type: str = "",
    after_position: int | None = None,
    size: int = PAGE_SIZE,
) -> dict:
    qs = DatasetSample.objects.filter(version=version)
    if split:
        qs = qs.filter(split=split)
    if kind:
        qs = qs.filter(kind=kind)
    if task_type:
        qs = qs.filter(task_type=task_type)
    page = keyset_page(qs, key="position", descending=False, past=after_position, size=size)
    return {"samples": page.rows, "next_after": page.next_key}


def _task_type_counts(version: DatasetVersion) -> Counter:
    return Counter({task_type: count for task_type, count in _grouped(version)})


def _grouped(version: DatasetVersion):
    return (
        DatasetSample.objects.filter(version=version)
        .values_list("task_type")
        .annotate(n=Count("id"))
        .values_list("task_type", "n")
    )


def dataset_version_diff(*, old: DatasetVersion, new: DatasetVersion, size: int = 20) -> dict:
    """Samples (by content hash) only in `new` (added) and only in `old` (removed), and the
    change of each task type's count."""
    added = DatasetSample.objects.filter(version=new).exclude(
        sample_hash__in=DatasetSample.objects.filter(version=old).values("sample_hash")
    )
    removed = DatasetSample.objects.filter(version=old).exclude(
        sample_hash__in=DatasetSample.objects.filter(version=new).values("sample_hash")
    )
    old_counts, new_counts = _task_type_counts(old), _task_type_counts(new)
    task_types = sorted(set(old_counts) | set(new_counts))
    return {
        "added_count": added.count(),
        "removed_count": removed.count(),
        "added": list(added.order_by("position")[:size]),
        "removed": list(removed.order_by("position")[:size]),
        "by_task_type": [
            {"task_type": t, "old": old_counts[t], "new": new_counts[t], "change": new_counts[t] - old_counts[t]}
            for t in task_types
        ],
        "config_changes": [
            {"setting": key, "old": old.config.get(key), "new": new.config.get(key)}
            for key in sorted(set(old.config) | set(new.config))
            if old.config.get(key) != new.config.get(key)
        ],
    }


def dataset_session_panel(session) -> dict:
    """The versions that hold samples of this session (for the session page)."""
    rows = (
        DatasetSample.objects.filter(session_id=session.id)
        .select_related("version")
        .only("id", "split", "kind", "task_type", "version__id", "version__name", "version__content_hash")
        .order_by("-version_id", "position")[:50]
    )
    return {"dataset_samples": list(rows)}
