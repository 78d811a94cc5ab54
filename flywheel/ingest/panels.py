"""Panels on the session page, contributed by each app.

The session page shows everything known about a session, but ingest must not import
cleaning, labeling or review. Each app registers a panel instead (in its AppConfig.ready):

    session_panel_register(order=20, title="Cleaning", template="cleaning/_session_panel.html",
                           context=lambda session: {"results": ...})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class SessionPanel:
    order: int
    title: str
    template: str
    context: Callable[[Any], dict]


_PANELS: dict[str, SessionPanel] = {}


def session_panel_register(*, order: int, title: str, template: str, context: Callable[[Any], dict]) -> None:
    _PANELS[template] = SessionPanel(order=order, title=title, template=template, context=context)


def session_panels(session) -> list[dict]:
    return [
        {"title": panel.title, "template": panel.template, "context": panel.context(session)}
        for panel in sorted(_PANELS.values(), key=lambda p: p.order)
    ]
