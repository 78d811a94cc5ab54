"""How long-running work says how far it has got: one shape for every service a job runs.

    def cleaning_rerun(*, app, progress: Progress = progress_ignored) -> dict:
        ...
        progress(seen, total, f"re-cleaned {changed} of {seen} seen")

`done` counts what is finished so far (sessions, records, bytes, rows read: the note says what),
`total` is how many there will be, or None while nobody knows, and `note` is one short line for
a person ("" adds nothing), plain or a `flywheel.i18n.Text` (stored untranslated, so each reader
sees it in their language). A job passes its `JobContext.progress` straight through: it records
the report on the job row (what the progress bars show), renews the lease, and raises
`JobCancelled` when someone asked the job to stop, so reporting is also where work stops. A
management command passes a function that writes the report to the terminal; a caller that does
not watch passes nothing.
"""

from __future__ import annotations

from typing import Protocol

from flywheel.i18n import Text


class Progress(Protocol):
    def __call__(self, done: int, total: int | None, note: str | Text) -> None: ...


def progress_ignored(done: int, total: int | None, note: str | Text) -> None:
    """The default for callers that do not watch."""
