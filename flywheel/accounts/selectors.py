from __future__ import annotations

from flywheel.accounts.models import ApiKey


def api_keys_list() -> list[ApiKey]:
    """Every key, active ones first, newest first. A handful per installation: no paging."""
    return list(ApiKey.objects.select_related("created_by").order_by("revoked_at", "-created_at", "-id"))
