"""Filters and columns of the sessions list, contributed by the apps that know the facts.

The sessions list filters by what ingest stores (app, model version, thumbs, date, text) and by
what later stages decide (cleaning status, task type, label quality); ingest must not import
those apps, so each registers a facet in its AppConfig.ready():

    session_facet_register(
        name="cleaning", title=_("Cleaning"), order=10,
        choices=lambda: [("kept", _("kept")), ...],    # what the filter's <select> offers
        filter=lambda sessions, value: sessions.filter(...),   # a queryset of ChatSession
        column=lambda session_ids: {session_id: "kept", ...},  # the page's column; optional
        column_title=_("Cleaning"),                            # the column's head; default: title
    )

A filter's value is only ever one of its choices (anything else is ignored), and a filter must
narrow the queryset through the ORM (`Exists(...)` on an indexed column), never through text
spliced into SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flywheel.registry import Registry


@dataclass(frozen=True)
class SessionFacet:
    name: str
    title: str
    order: int
    choices: Callable[[], list[tuple[str, str]]]
    filter: Callable[[Any, str], Any]
    column: Callable[[list[int]], dict[int, str]] | None = None
    column_title: str = ""


_FACETS: Registry[SessionFacet] = Registry("sessions list facet")


def session_facet_register(
    *,
    name: str,
    title: str,
    order: int,
    choices: Callable[[], list[tuple[str, str]]],
    filter: Callable[[Any, str], Any],
    column: Callable[[list[int]], dict[int, str]] | None = None,
    column_title: str = "",
) -> SessionFacet:
    facet = SessionFacet(
        name=name,
        title=title,
        order=order,
        choices=choices,
        filter=filter,
        column=column,
        column_title=column_title or title,
    )
    return _FACETS.add(name, facet)


def session_facets() -> list[SessionFacet]:
    return sorted(_FACETS.values(), key=lambda facet: facet.order)
