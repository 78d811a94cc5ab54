"""Typed readers for settings that come from the environment.

Each helper fails loudly (ImproperlyConfigured) on a value it cannot parse, instead of
silently falling back, so a typo in a deployment shows up at start-up.

flywheel/settings.py reads every variable through a `Section`, which also records it (name,
default, what it accepts, one line on what it does) in CATALOG: the one list that
docs/settings.md is generated from (`python -m flywheel.settings_doc`) and that .env.example is
checked against (tests/flywheel/test_settings_catalog.py).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    return number


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {sorted(choices)}")
    return value


def env_between(name: str, value, low, high):
    """`value` unchanged when low <= value <= high (None, for "unset", too); else a loud failure."""
    if value is not None and not low <= value <= high:
        raise ImproperlyConfigured(f"{name}={value} must be between {low} and {high}")
    return value


# --- The catalog of settings ----------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    """One environment variable, as docs/settings.md and .env.example show it."""

    name: str
    section: str
    accepts: str  # "integer >= 1", "boolean", "one of a, b", ...
    kind: str  # str, path, int, float, bool, list, choice: how a written value is read
    default: str  # as the variable would be written ("" for unset)
    doc: str
    example: str | None = None  # what .env.example shows instead of the default (a URL, a host name)


CATALOG: dict[str, Variable] = {}


def _written(value) -> str:
    """A default as it would be written in the environment."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(value)
    return str(value)


def _limits(kind: str, minimum=None, between=None) -> str:
    if between:
        return f"{kind} {between[0]}..{between[1]}"
    if minimum is not None:
        return f"{kind} >= {minimum}"
    return kind


class Section:
    """Reads the variables of one part of the settings, and records each in CATALOG.

    Every reader takes `doc` (one line for the settings table); `shown` replaces the default in
    the table when the real default is computed (a path under FLYWHEEL_VAR_DIR, another
    setting's value); `example` is what .env.example writes when it shows an example rather
    than the default."""

    def __init__(self, title: str):
        self.title = title

    def _record(
        self, name: str, kind: str, accepts: str, default, doc: str, shown: str | None, example: str | None
    ) -> None:
        CATALOG[name] = Variable(
            name=name,
            section=self.title,
            accepts=accepts,
            kind=kind,
            default=_written(default) if shown is None else shown,
            doc=doc,
            example=example,
        )

    def str(
        self, name: str, default: str = "", *, doc: str, shown: str | None = None, example: str | None = None
    ) -> str:
        self._record(name, "str", "text", default, doc, shown, example)
        return env_str(name, default)

    def path(self, name: str, default, *, doc: str, shown: str | None = None, example: str | None = None) -> Path:
        """Unset or empty: the default."""
        self._record(name, "path", "path", default, doc, shown, example)
        return Path(env_str(name) or default)

    def int(
        self,
        name: str,
        default: int,
        *,
        doc: str,
        minimum: int | None = None,
        between=None,
        shown: str | None = None,
        example: str | None = None,
    ) -> int:
        self._record(name, "int", _limits("integer", minimum, between), default, doc, shown, example)
        value = env_int(name, default, minimum=minimum)
        return env_between(name, value, *between) if between else value

    def float(
        self,
        name: str,
        default: float | None,
        *,
        doc: str,
        between=None,
        shown: str | None = None,
        example: str | None = None,
    ) -> float | None:
        """None as the default: unset or empty reads as None (and is not range-checked)."""
        self._record(name, "float", _limits("number", None, between), default, doc, shown, example)
        value = env_float(name, default)
        return env_between(name, value, *between) if between else value

    def bool(self, name: str, default: bool, *, doc: str, shown: str | None = None, example: str | None = None) -> bool:
        self._record(name, "bool", "boolean (1/0)", default, doc, shown, example)
        return env_bool(name, default)

    def list(
        self, name: str, default: list[str], *, doc: str, shown: str | None = None, example: str | None = None
    ) -> list[str]:
        self._record(name, "list", "comma-separated list", default, doc, shown, example)
        return env_list(name, default)

    def choice(
        self,
        name: str,
        default: str,
        choices: set[str],
        *,
        doc: str,
        shown: str | None = None,
        example: str | None = None,
    ) -> str:
        self._record(name, "choice", "one of " + ", ".join(sorted(choices)), default, doc, shown, example)
        return env_choice(name, default, choices)

    def elsewhere(self, name: str, *, doc: str, default: str = "", example: str | None = None) -> None:
        """A variable that libraries or the tests read, not Flywheel's settings: listed, not read."""
        self._record(name, "str", "text", default, doc, None, example)


# --- Private files under the var/ directory -------------------------------------------------
# The secret key, the user-id salt and the SQLite database are readable by this user only, from
# the moment they exist: created with their final mode (never written first and chmod-ed after),
# and tightened when an older installation left them readable by others.

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _tighten(path, mode: int) -> None:
    if os.stat(path).st_mode & 0o777 & ~mode:
        os.chmod(path, mode)


def private_dir(path) -> None:
    """Create the directory with mode 0700 (its missing parents as usual), or tighten it to 0700."""
    os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
    _tighten(path, PRIVATE_DIR_MODE)


def private_file_create(path) -> None:
    """Create an empty file with mode 0600 unless it exists (then tighten it to 0600)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        _tighten(path, PRIVATE_FILE_MODE)


def private_value(path, make) -> str:
    """The value kept in the file at `path`; when there is none, `make()` is written there first.

    The file is written whole under a temporary name (mkstemp: 0600, O_EXCL) and linked into
    place, so no other user can read it at any moment and two processes starting at once agree
    on one value instead of each keeping its own (the second link fails and reads the first)."""
    directory = os.path.dirname(os.fspath(path)) or "."
    if not os.path.exists(path):
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".new-")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(make())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    _tighten(path, PRIVATE_FILE_MODE)
    with open(path) as kept:
        value = kept.read().strip()
    if not value:
        raise ImproperlyConfigured(f"{path} is empty; delete it to have a new value generated")
    return value
