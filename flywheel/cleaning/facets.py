"""The sessions list's "Cleaning" filter and column (registered in CleaningConfig.ready)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from flywheel.cleaning.models import SessionCleaning, Status

NOT_CLEANED = "none"


def cleaning_choices() -> list[tuple[str, str]]:
    return [(status.value, status.label) for status in Status] + [(NOT_CLEANED, _("not cleaned yet"))]


def sessions_by_cleaning(sessions, value: str):
    # Served by SessionCleaning's (status, session) index; "not cleaned yet" by its primary key.
    if value == NOT_CLEANED:
        return sessions.filter(~Exists(SessionCleaning.objects.filter(session_id=OuterRef("pk"))))
    return sessions.filter(Exists(SessionCleaning.objects.filter(session_id=OuterRef("pk"), status=value)))


def cleaning_column(session_ids: list[int]) -> dict[int, str]:
    return dict(SessionCleaning.objects.filter(session_id__in=session_ids).values_list("session_id", "status"))
