"""Typed readers for settings that come from the environment.

Each helper fails loudly (ImproperlyConfigured) on a value it cannot parse, instead of
silently falling back, so a typo in a deployment shows up at start-up.
"""

from __future__ import annotations

import os
import tempfile

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set")
    return value


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
