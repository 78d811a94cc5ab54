"""Panels on the session page, contributed by each app.

The session page shows everything known about a session, but ingest must not import
cleaning, labeling or review. Each app registers a panel instead (in its AppConfig.ready):

    session_panel_register(order=20, title="Cleaning", template="cleaning/_session_panel.html",
                           context=lambda session: {"results": ...})

Panels are for engineers and admins. Apps also say who else may open a session page and what
those people see of its text (the end of this module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flywheel.registry import Registry


@dataclass(frozen=True)
class SessionPanel:
    order: int
    title: str
    template: str
    context: Callable[[Any], dict]


_PANELS: Registry[SessionPanel] = Registry("session panel")


def session_panel_register(*, order: int, title: str, template: str, context: Callable[[Any], dict]) -> SessionPanel:
    return _PANELS.add(title, SessionPanel(order=order, title=title, template=template, context=context))


def session_panels(session) -> list[dict]:
    return [
        {"title": panel.title, "template": panel.template, "context": panel.context(session)}
        for panel in sorted(_PANELS.values(), key=lambda p: p.order)
    ]


# --- who else may open a session, and what they see of its text -----------------------------------
#
# Engineers and admins open every session and read it as it was stored. Anyone else the view
# admits (annotators) opens a session only when an app grants it (review: a session of an item
# given to this person), and reads it through the text shield: the text a dataset would hold
# (PII scrubbed), never the original. With no shield registered, such readers see no text at all.


@dataclass(frozen=True)
class TextShield:
    """`messages(ids)` gives each message's shown text (an id left out is hidden whole);
    `text(value)` gives the shown form of a free text such as a feedback comment (None: hidden)."""

    messages: Callable[[list[int]], dict[int, str]]
    text: Callable[[str], str | None]


_GRANTS: Registry[Callable[[Any, Any], bool]] = Registry("session access grant")
_SHIELDS: Registry[TextShield] = Registry("session text shield")


def session_access_register(*, name: str, grants: Callable[[Any, Any], bool]) -> None:
    """`grants(user, session)` is True when this app gave `user` something about `session`."""
    _GRANTS.add(name, grants)


def session_access_granted(*, user, session) -> bool:
    return any(grants(user, session) for grants in _GRANTS.values())


def session_text_shield_register(*, name: str, shield: TextShield) -> None:
    if _SHIELDS:
        # Readers see text through exactly one shield: a second would leave one of them unused.
        raise ValueError(f"the session text shield is {next(iter(_SHIELDS))!r}'s already; {name!r} cannot add one")
    _SHIELDS.add(name, shield)


def session_text_shield() -> TextShield:
    return next(iter(_SHIELDS.values()), None) or TextShield(messages=lambda ids: {}, text=lambda value: None)
