"""Writing a file so that readers see the old version or the new one, never half of it. Shared
by the trainer and the web side (through `training.contract`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[IO[str]]:
    """A text handle on a temporary file beside `path`; on a clean exit it is flushed, synced
    and renamed over `path` (atomic within one directory). On an error it is removed and
    `path` is left as it was."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
