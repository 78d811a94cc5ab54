"""The sessions list's "Task type" and "Quality" filters and its "Label" column (registered in
LabelingConfig.ready). The column shows the label that speaks for the session (see
selectors._RANK); the filters match a session any of whose labels has that value."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from flywheel.labeling.models import Label
from flywheel.labeling.selectors import labels_for_sessions
from flywheel.labeling.taxonomy import taxonomy

LOW_QUALITY = "low"


def task_type_choices() -> list[tuple[str, str]]:
    tax = taxonomy()
    return [(name, tax.title(name)) for name in tax.type_names()]


def quality_choices() -> list[tuple[str, str]]:
    return [(str(q), str(q)) for q in range(1, 6)] + [(LOW_QUALITY, _("1–2 (low)"))]


def sessions_by_task_type(sessions, value: str):
    # Each candidate session probes its labels through Label's session FK index.
    return sessions.filter(Exists(Label.objects.filter(session_id=OuterRef("pk"), task_type=value)))


def sessions_by_quality(sessions, value: str):
    labels = Label.objects.filter(session_id=OuterRef("pk"))
    labels = labels.filter(quality__lte=2) if value == LOW_QUALITY else labels.filter(quality=int(value))
    return sessions.filter(Exists(labels))


def label_column(session_ids: list[int]) -> dict[int, str]:
    return {
        session_id: f"{label['task_type']} · q{label['quality']}" + ("" if label["trusted"] else " ⚠")
        for session_id, label in labels_for_sessions(session_ids=session_ids).items()
    }
