"""Text for people that is written in one place and read in another language, later.

A service error raised in a request is read at once, in that request's language; the same error
raised in a worker, a progress note and a job's error are stored and read later by whoever opens
the page, in their language. One shape serves both: `Text("... %(name)s ...", name=value)`
keeps the English message id and its parameters. `str()` of it translates into the active
language (so `str(exc)` in a view, and any template, show it translated), and `stored()`
writes the id and parameters, not a translation, into a text column; `shown()` reads such a
column back in the reader's language. Storing the id rather than the English sentence is what
lets a Chinese reader see Chinese, and a later fix to a translation reach rows already written.

Columns written before this held plain English (and tracebacks still are plain text): `shown()`
returns anything that is not a stored Text as it is, so old rows keep displaying. Parameters are
data (names, numbers, another message's text) and are never translated themselves, unless one is
a Text too.

`manage.py translations` gathers the first argument of every `Text(...)` call like gettext's (its
`--keyword=Text`), so the message id must be a string literal there.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import translation
from django.utils.translation import gettext

# A stored Text starts with this; plain text (old rows, tracebacks) never does. The control
# character keeps it from colliding with anything a person or a library writes.
_MARK = "\x1ftext:"


class Text:
    """A message id with its parameters, translated whenever it is turned into a string."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params: Any):
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        translated = gettext(self.msgid)
        if not self.params:
            return translated
        return translated % {
            name: str(value) if isinstance(value, Text) else value for name, value in self.params.items()
        }

    def __repr__(self) -> str:
        return f"Text({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Text) and (self.msgid, self.params) == (other.msgid, other.params)

    def __hash__(self) -> int:
        return hash(self.msgid)

    def stored(self) -> str:
        return _MARK + json.dumps({"msgid": self.msgid, "params": _plain(self.params)}, ensure_ascii=False)


def _plain(params: dict) -> dict:
    """Parameters as JSON can hold them: a nested Text stays a Text, other values keep their
    type when JSON has it, or become their text."""
    plain = {}
    for name, value in params.items():
        if isinstance(value, Text):
            plain[name] = {"msgid": value.msgid, "params": _plain(value.params)}
        elif isinstance(value, (str, int, float, bool)) or value is None:
            plain[name] = value
        else:
            plain[name] = str(value)
    return plain


def _revived(data: dict) -> Text:
    params = {
        name: _revived(value) if isinstance(value, dict) and "msgid" in value else value
        for name, value in data.get("params", {}).items()
    }
    return Text(data["msgid"], **params)


def message_of(exc: BaseException) -> Text | str:
    """The message an exception was raised with, a Text kept as one, to raise again as another
    kind of error (a service error becoming a job's permanent failure) without translating it."""
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Text) else str(exc)


def stored(value: Any, limit: int | None = None) -> str:
    """What to write into a text column for `value`: a Text (or an exception raised with one) as
    its id and parameters, anything else as its text. With `limit`, a stored Text that would not
    fit is written as its English text instead, cut to the limit: a cut id would not read back."""
    text = value.args[0] if isinstance(value, BaseException) and len(value.args) == 1 else value
    if isinstance(text, Text):
        encoded = text.stored()
        if limit is None or len(encoded) <= limit:
            return encoded
        with translation.override("en"):
            return str(text)[:limit]
    text = str(value)
    return text if limit is None else text[:limit]


def shown(value: str) -> str:
    """A column written by `stored()`, in the active language; plain text as it is."""
    if not isinstance(value, str) or not value.startswith(_MARK):
        return value
    try:
        text = _revived(json.loads(value[len(_MARK) :]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return value[len(_MARK) :]  # a damaged row still says something
    try:
        return str(text)
    except (ValueError, KeyError, TypeError):
        # A translation whose placeholders no longer match what was stored: the English still does.
        with translation.override("en"):
            return str(text)
