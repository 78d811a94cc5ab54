"""Job kinds and the service each one runs.

An app registers a handler in its tasks.py:

    @job_handler("cleaning.run", queue="default")
    def run_cleaning(ctx: JobContext) -> dict:
        return cleaning_run(batch_id=ctx.payload["batch_id"], progress=ctx.progress)

The handler receives a `flywheel.jobs.services.JobContext` (payload, progress reporting, cancellation check) and returns
a JSON-serialisable result. It must be idempotent: after a killed worker the job runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

QUEUES = ("default", "llm", "gpu")


class RetryableJobError(Exception):
    """Raise from a handler when a later attempt may succeed (remote server busy, lock held)."""

    def __init__(self, message: str, *, retry_after_s: float = 10.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JobCancelled(Exception):
    """Raised by JobContext.check_cancelled when someone asked the job to stop."""


class PermanentJobError(Exception):
    """Raise when retrying cannot help (bad input); the job goes to the dead-letter state."""


@dataclass(frozen=True)
class JobHandler:
    kind: str
    queue: str
    func: Callable
    max_attempts: int


HANDLERS: dict[str, JobHandler] = {}


def job_handler(kind: str, *, queue: str = "default", max_attempts: int = 5):
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {QUEUES}")

    def register(func):
        existing = HANDLERS.get(kind)
        if existing is not None and existing.func.__qualname__ != func.__qualname__:
            raise ValueError(f"job kind {kind!r} is registered twice")
        HANDLERS[kind] = JobHandler(kind=kind, queue=queue, func=func, max_attempts=max_attempts)
        return func

    return register


def handler_for(kind: str) -> JobHandler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise PermanentJobError(f"no handler is registered for job kind {kind!r}") from None
