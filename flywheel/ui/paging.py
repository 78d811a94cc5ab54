"""Pages by key, never by offset (DESIGN.md, convention 4): the one helper every list uses.

A page is read as `size + 1` rows past the key of the last row shown, so "is there a next
page?" is answered by the extra row, never by an exact COUNT(*) and never by guessing from a
full page (a page that happens to hold exactly `size` rows has no next page).

    page = keyset_page(Job.objects.filter(...), past=page_key(request), size=50)
    page.rows       # the rows of this page, newest first
    page.next_key   # what ?before= takes for the next page; None when nothing is left
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet

Row = TypeVar("Row")


@dataclass(frozen=True)
class KeysetPage(Generic[Row]):
    rows: list[Row]
    next_key: Any | None

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)


def keyset_page(
    queryset: QuerySet, *, size: int, key: str = "id", descending: bool = True, past: Any | None = None
) -> KeysetPage:
    """Rows of `queryset` ordered by `key` (descending: newest first, by default), starting past
    the row whose key is `past` (None: the first page). `key` must be unique and indexed."""
    ordered = queryset.order_by(f"-{key}" if descending else key)
    if past is not None:
        ordered = ordered.filter(**{f"{key}__lt" if descending else f"{key}__gt": past})
    rows = list(ordered[: size + 1])
    next_key = _key_of(rows[size - 1], key) if len(rows) > size else None
    return KeysetPage(rows=rows[:size], next_key=next_key)


def _key_of(row, key: str):
    value = row
    for part in key.split("__"):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def page_key(request, name: str = "before") -> int | None:
    """The page key a list's "next" link carries (?before=123); anything but digits is the first page."""
    value = request.GET.get(name) or ""
    return int(value) if value.isdigit() else None
