"""The one shape every registry takes: a name → entry table that each app fills from its
AppConfig.ready() (never as a side effect of importing a module).

A framework app owns the table and a typed `<thing>_register(...)` function that builds the entry
and calls `Registry.add`; the apps that plug into it call that function in their ready():

    STAGES: Registry[Stage] = Registry("pipeline stage")

    def pipeline_stage_register(name, func, *, order): ...   # in flywheel/pipeline/registry.py
    pipeline_stage_register("cleaning", tasks.clean_new_data, order=10)   # in CleaningConfig.ready

A name registered twice is an error: two apps claiming one name would otherwise leave one of them
silently unused. `registries()` lists every table, which tests/flywheel/test_wiring.py prints.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")

_ALL: list[Registry] = []


class Registry(Mapping[str, T], Generic[T]):
    """Read like a dict (`registry[name]`, `.get`, `.items()`, `in`); written only through `add`."""

    def __init__(self, what: str, *, listed: bool = True):
        self.what = what
        self._entries: dict[str, T] = {}
        if listed:
            _ALL.append(self)

    def add(self, name: str, entry: T) -> T:
        if not name:
            raise ValueError(f"a {self.what} needs a name")
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def copy(self) -> Registry[T]:
        """An unlisted copy, for a test that registers something of its own (monkeypatch it in)."""
        duplicate: Registry[T] = Registry(self.what, listed=False)
        duplicate._entries = dict(self._entries)
        return duplicate

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Registry of {self.what}s: {', '.join(self._entries) or 'empty'}>"


def registries() -> list[Registry]:
    """Every registry whose module is imported (the apps' ready() imports those it fills)."""
    return list(_ALL)
