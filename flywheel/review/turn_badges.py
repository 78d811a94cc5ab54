"""Badges beside each turn on the annotator's page, contributed by other apps (labels from
labeling, topic segments from continuity, say) without review importing them. No app registers
one yet; an app that does, does it in its AppConfig.ready():

    turn_badges_register("labeling", lambda *, session, message_ids: {message_id: ["qa", "quality 4"]})
"""

from __future__ import annotations

from collections.abc import Callable

from flywheel.registry import Registry

TurnBadges = Callable[..., dict[int, list[str]]]
_SOURCES: Registry[TurnBadges] = Registry("turn badges source")


def turn_badges_register(name: str, func: TurnBadges) -> TurnBadges:
    return _SOURCES.add(name, func)


def turn_badges(*, session, message_ids: list[int]) -> dict[int, list[str]]:
    badges: dict[int, list[str]] = {}
    for name, func in sorted(_SOURCES.items()):  # noqa: B007
        for message_id, texts in (func(session=session, message_ids=message_ids) or {}).items():
            badges.setdefault(message_id, []).extend(str(t) for t in texts)
    return badges
