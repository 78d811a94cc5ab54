"""Job kinds and the service each one runs.

An app writes a handler in its tasks.py and registers it in its AppConfig.ready():

    def rerun(ctx: JobContext) -> dict:                      # flywheel/cleaning/tasks.py
        return cleaning_rerun(app=ctx.payload.get("app"), progress=ctx.progress)

    job_handler_register("cleaning.rerun", tasks.rerun, queue="default")   # CleaningConfig.ready

The handler receives a `flywheel.jobs.services.JobContext` (payload, progress reporting, cancellation check) and returns
a JSON-serialisable result. A service reports progress in the one shape of flywheel.jobs.progress,
so the handler passes `ctx.progress` to it as it is. It must be idempotent: after a killed worker the job runs again.

Each kind also says who may cancel or re-drive its jobs (`roles=`): the people who may launch
that kind of work. Left out, the queue decides: `gpu` holds training and evaluation runs, which
ops launch; `default` and `llm` hold the engineers' pipelines (imports, cleaning, labeling,
continuity, construction, review bulk actions). Admins pass every check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flywheel.accounts.roles import ENGINEERS, OPERATORS, Role
from flywheel.registry import Registry

QUEUES = ("default", "llm", "gpu")
DEFAULT_ROLES_BY_QUEUE: dict[str, frozenset[Role]] = {"default": ENGINEERS, "llm": ENGINEERS, "gpu": OPERATORS}
# A job whose kind no longer has a handler (an app removed, a renamed kind): only an admin acts.
UNKNOWN_KIND_ROLES: frozenset[Role] = frozenset({Role.ADMIN})


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
    # Who may cancel or re-drive a job of this kind.
    roles: frozenset[Role]


HANDLERS: Registry[JobHandler] = Registry("job handler")


def job_handler_register(
    kind: str, func: Callable, *, queue: str = "default", max_attempts: int = 5, roles: Iterable[Role] | None = None
) -> JobHandler:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {QUEUES}")
    allowed = frozenset(Role(r) for r in roles) if roles is not None else DEFAULT_ROLES_BY_QUEUE[queue]
    if not allowed:
        raise ValueError(f"job kind {kind!r}: roles must name at least one role")
    return HANDLERS.add(kind, JobHandler(kind=kind, queue=queue, func=func, max_attempts=max_attempts, roles=allowed))


def handler_for(kind: str) -> JobHandler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise PermanentJobError(f"no handler is registered for job kind {kind!r}") from None


def job_kind_roles(kind: str) -> frozenset[Role]:
    """The roles that may cancel or re-drive jobs of `kind`."""
    handler = HANDLERS.get(kind)
    return handler.roles if handler is not None else UNKNOWN_KIND_ROLES
