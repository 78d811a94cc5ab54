"""Creating, claiming, running and sweeping jobs.

The claim is a conditional UPDATE with a row-count check, so of two deliveries of the same
message (a redelivered broker message, a sweeper re-send) only one runs the handler; the
other returns at once. A running job heartbeats; a job whose lease runs out (its worker was
killed) is handed to the next worker by the sweeper and runs again from the start, which is
why every handler must be idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from flywheel.accounts.roles import user_has_any_role
from flywheel.accounts.services import audit_record
from flywheel.celery import app as celery_app
from flywheel.i18n import Text, stored
from flywheel.jobs.models import Job
from flywheel.jobs.registry import (
    JobCancelled,
    PermanentJobError,
    RetryableJobError,
    handler_for,
    job_kind_roles,
)

logger = logging.getLogger(__name__)

ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)
JOB_RUN_TASK = "flywheel.jobs.tasks.job_run"
_ERROR_LIMIT = 20_000


# --- creating and dispatching --------------------------------------------------------------


def job_create(
    *,
    kind: str,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    created_by=None,
    total: int | None = None,
    countdown: float = 0,
) -> Job:
    """Create a job and send it after the surrounding transaction commits (to run `countdown`
    seconds later, e.g. when a review decision's undo period ends). With a
    `dedupe_key`, a job with that key that has not started yet is returned instead of a
    second one (once it runs, a new request queues a new job, so no new data is missed)."""
    handler = handler_for(kind)
    waiting = Job.objects.filter(dedupe_key=dedupe_key, status=Job.Status.QUEUED, attempts=0)
    with transaction.atomic():
        if dedupe_key and (existing := waiting.first()) is not None:
            return existing
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    kind=kind,
                    queue=handler.queue,
                    payload=payload or {},
                    dedupe_key=dedupe_key,
                    created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
                    max_attempts=handler.max_attempts,
                    progress_total=total,
                )
        except IntegrityError:
            return waiting.get()
        transaction.on_commit(lambda: job_dispatch(job_id=job.id, countdown=countdown))
    return job


def job_dispatch(*, job_id: int, countdown: float = 0) -> None:
    """Hand a job to whatever executes jobs in this deployment, to run `countdown` seconds from
    now. `enqueued_at` is when it is due, so the sweeper does not take a job that waits on
    purpose for a lost one."""
    Job.objects.filter(id=job_id).update(enqueued_at=timezone.now() + timedelta(seconds=countdown or 0))
    mode = settings.FLYWHEEL_TASK_MODE
    if mode == "celery":
        queue = Job.objects.values_list("queue", flat=True).get(id=job_id)
        # Sent by name: the task module imports this one, not the other way round.
        celery_app.send_task(JOB_RUN_TASK, args=[job_id], queue=queue, countdown=countdown or None)
    elif mode == "thread":
        _thread_runner().submit(job_id, countdown)
    else:
        outcome = job_execute(job_id=job_id)
        if outcome.retry_after_s is not None:
            job_dispatch(job_id=job_id)


class _ThreadRunner:
    """The embedded default's executor: a small pool in this process, plus a sweeper thread
    that re-drives jobs a previous process left behind."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flywheel-job")
        self._sweeper = jobs_sweeper_start()
        try:
            self.resume_left_behind()
        except DatabaseError:
            # Not migrated yet, or the database is down: the web process must start all the same;
            # the sweeper finds these jobs later.
            logger.exception("could not resume the jobs a previous process left queued")

    def resume_left_behind(self) -> int:
        """Schedule the queued jobs that are due, or due within FLYWHEEL_JOB_REQUEUE_AFTER_S, each
        at its due time. Their timers lived in a process that is gone (a restarted web process),
        and the sweeper would send them only that long past due: an undo period's finalize would
        be applied ten minutes late. A job another live process also holds a timer for is not run
        twice: whichever delivery claims it first runs it (job_claim), the other finds it taken.
        Jobs due later are left to the sweeper, so a long backlog does not become a timer each."""
        now = timezone.now()
        horizon = now + timedelta(seconds=settings.FLYWHEEL_JOB_REQUEUE_AFTER_S)
        pending = (
            Job.objects.filter(status=Job.Status.QUEUED, cancel_requested=False)
            .filter(Q(enqueued_at__lte=horizon) | Q(enqueued_at__isnull=True))
            .order_by("id")
            .values_list("id", "enqueued_at")
        )
        resumed = 0
        for job_id, due in pending.iterator():
            self.submit(job_id, max(0.0, (due - now).total_seconds()) if due else 0)
            resumed += 1
        return resumed

    def submit(self, job_id: int, countdown: float) -> None:
        if countdown:
            timer = threading.Timer(countdown, self.pool.submit, args=(self._run, job_id))
            timer.daemon = True
            timer.start()
        else:
            self.pool.submit(self._run, job_id)

    def _run(self, job_id: int) -> None:
        close_old_connections()
        try:
            outcome = job_execute(job_id=job_id)
            if outcome.retry_after_s is not None:
                # Through job_dispatch, so the row says when the retry is due: a restarted process
                # resumes it then, and the sweeper does not count its back-off as lost time.
                job_dispatch(job_id=job_id, countdown=outcome.retry_after_s)
        finally:
            connection.close()


def jobs_sweeper_start() -> threading.Thread:
    """Sweep every FLYWHEEL_SWEEP_INTERVAL_S on a daemon thread of this process: the embedded
    default's runner, and Celery beat (flywheel/celery.py). A sweep sent as a task would wait in
    its queue behind whatever occupies that queue's workers, recovering nothing meanwhile."""

    def sweep_forever() -> None:
        stop = threading.Event()
        while not stop.wait(settings.FLYWHEEL_SWEEP_INTERVAL_S):
            try:
                jobs_sweep()
            except Exception:  # the sweeper must outlive a transient database error
                logger.exception("job sweep failed")
            finally:
                connection.close()

    thread = threading.Thread(target=sweep_forever, name="flywheel-sweeper", daemon=True)
    thread.start()
    return thread


def jobs_thread_runner_start() -> None:
    """Start the embedded runner with the web process (flywheel/wsgi.py) rather than at its first
    job: jobs a previous process left queued are then resumed at once, not when someone next
    creates a job. Does nothing unless jobs run on threads of this process."""
    if settings.FLYWHEEL_TASK_MODE == "thread":
        _thread_runner()


_runner: _ThreadRunner | None = None
_runner_lock = threading.Lock()


def _thread_runner() -> _ThreadRunner:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = _ThreadRunner()
        return _runner


# --- claiming and running ------------------------------------------------------------------


def _worker_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _lease_deadline():
    return timezone.now() + timedelta(seconds=settings.FLYWHEEL_JOB_LEASE_S)


def job_claim(*, job_id: int, worker: str) -> bool:
    """Atomically take a job that is queued, or running under an expired lease."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(id=job_id, cancel_requested=False)
        .filter(Q(status=Job.Status.QUEUED) | Q(status=Job.Status.RUNNING, lease_expires_at__lt=now))
        .update(
            status=Job.Status.RUNNING,
            worker=worker,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            lease_expires_at=_lease_deadline(),
            error="",
        )
    )
    return claimed == 1


class JobContext:
    """What a handler sees of its job."""

    def __init__(self, job: Job, worker: str):
        self.job_id = job.id
        self.kind = job.kind
        self.payload = job.payload
        self.attempt = job.attempts
        self.created_by_id = job.created_by_id
        self._worker = worker

    def progress(self, done: int, total: int | None = None, note: str | Text = "") -> None:
        """Record progress, renew the lease, and stop if cancellation was asked for. A Text note
        is stored untranslated, to be read in each reader's language (flywheel/i18n.py)."""
        fields = {"progress_done": done, "heartbeat_at": timezone.now(), "lease_expires_at": _lease_deadline()}
        if total is not None:
            fields["progress_total"] = total
        if note:
            fields["progress_note"] = stored(note, limit=200)
        Job.objects.filter(id=self.job_id, worker=self._worker).update(**fields)
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if Job.objects.filter(id=self.job_id, cancel_requested=True).exists():
            raise JobCancelled()

    def cancel_requested(self) -> bool:
        return Job.objects.filter(id=self.job_id, cancel_requested=True).exists()


class _Heartbeat(threading.Thread):
    """Keeps the lease alive while a handler runs a long step without reporting progress."""

    def __init__(self, job_id: int, worker: str):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.worker = job_id, worker
        self.stopped = threading.Event()

    def run(self):
        interval = max(1.0, settings.FLYWHEEL_JOB_LEASE_S / 3)
        while not self.stopped.wait(interval):
            try:
                Job.objects.filter(id=self.job_id, worker=self.worker, status=Job.Status.RUNNING).update(
                    heartbeat_at=timezone.now(), lease_expires_at=_lease_deadline()
                )
            except Exception:
                # A database restart must not end the heartbeat: the job itself may well survive
                # it, and a lease left to run out hands it to a second worker while it still runs.
                logger.warning("heartbeat for job %s failed; trying again", self.job_id, exc_info=True)
                connection.close()
        connection.close()


class Outcome:
    def __init__(self, status: str, retry_after_s: float | None = None):
        self.status = status
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return f"Outcome({self.status!r}, retry_after_s={self.retry_after_s})"


def _finish(job_id: int, worker: str, **fields) -> bool:
    fields.setdefault("finished_at", timezone.now())
    return Job.objects.filter(id=job_id, worker=worker, status=Job.Status.RUNNING).update(**fields) == 1


def job_execute(*, job_id: int) -> Outcome:
    """Claim and run one job. Returns what happened; a retry carries its delay."""
    worker = _worker_token()
    if not job_claim(job_id=job_id, worker=worker):
        return Outcome("skipped")
    job = Job.objects.get(id=job_id)
    heartbeat = _Heartbeat(job_id, worker)
    heartbeat.start()
    try:
        handler = handler_for(job.kind)
        result = handler.func(JobContext(job, worker))
    except JobCancelled:
        _finish(job_id, worker, status=Job.Status.CANCELLED)
        return Outcome("cancelled")
    except PermanentJobError as exc:
        _finish(job_id, worker, status=Job.Status.DEAD, error=stored(exc, limit=_ERROR_LIMIT))
        return Outcome("dead")
    except Exception as exc:  # the job row records every failure; nothing is swallowed
        retryable = isinstance(exc, RetryableJobError)
        error = traceback.format_exc()[-_ERROR_LIMIT:]
        logger.warning("job %s (%s) attempt %s failed: %s", job_id, job.kind, job.attempts, exc)
        if job.attempts < job.max_attempts:
            delay = exc.retry_after_s if retryable else min(300.0, 2.0**job.attempts)
            Job.objects.filter(id=job_id, worker=worker).update(
                status=Job.Status.QUEUED, error=error, lease_expires_at=None
            )
            return Outcome("retry", retry_after_s=delay)
        _finish(job_id, worker, status=Job.Status.DEAD if retryable else Job.Status.FAILED, error=error)
        return Outcome("failed")
    finally:
        heartbeat.stopped.set()
    _finish(
        job_id,
        worker,
        status=Job.Status.SUCCEEDED,
        result=result if isinstance(result, dict) else {"value": result},
        progress_done=Coalesce(F("progress_total"), F("progress_done")),
    )
    return Outcome("succeeded")


# --- control and recovery ------------------------------------------------------------------


def job_cancel(*, job_id: int) -> None:
    """A queued job is cancelled at once; a running one stops at its next progress report."""
    with transaction.atomic():
        Job.objects.filter(id=job_id, status__in=ACTIVE).update(cancel_requested=True)
        Job.objects.filter(id=job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now()
        )


def job_redrive(*, job_id: int) -> bool:
    """Put a dead, failed or cancelled job back in its queue with a fresh attempt budget."""
    with transaction.atomic():
        changed = Job.objects.filter(
            id=job_id, status__in=(Job.Status.DEAD, Job.Status.FAILED, Job.Status.CANCELLED)
        ).update(status=Job.Status.QUEUED, attempts=0, cancel_requested=False, finished_at=None, error="")
        if changed:
            transaction.on_commit(lambda: job_dispatch(job_id=job_id))
    return bool(changed)


class JobControlDenied(Exception):
    """A person asked to cancel or re-drive a job of a kind their roles do not cover."""


_PEOPLE = {"annotator": "annotators", "engineer": "engineers", "ops": "ops", "admin": "admins"}
_ORDER = ("annotator", "engineer", "ops", "admin")


def _people(roles) -> str:
    """{"ops", "admin"} -> "ops and admins"."""
    names = [_PEOPLE[name] for name in _ORDER if name in {str(role) for role in roles}]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def job_control_refusal(*, job: Job, user, action: str) -> str:
    """Why `user` may not `action` ("cancel" or "re-drive") this job; "" when they may. The
    kind's own roles decide (flywheel.jobs.registry): an engineer does not stop ops' training
    runs, and ops do not stop engineers' imports."""
    allowed = job_kind_roles(job.kind)
    if user_has_any_role(user, allowed):
        return ""
    return f"Only {_people(allowed)} may {action} {job.kind} jobs."


def job_cancel_by(*, job: Job, user) -> None:
    """Cancel a job on a person's request, if the job's kind lets their roles act on it."""
    if refusal := job_control_refusal(job=job, user=user, action="cancel"):
        raise JobControlDenied(refusal)
    with transaction.atomic():
        job_cancel(job_id=job.id)
        audit_record(actor=user, action="job.cancel", target_type="job", target_id=job.id, detail={"kind": job.kind})


def job_redrive_by(*, job: Job, user) -> bool:
    """Re-drive a job on a person's request, if the job's kind lets their roles act on it.
    False when the job is not dead, failed or cancelled."""
    if refusal := job_control_refusal(job=job, user=user, action="re-drive"):
        raise JobControlDenied(refusal)
    with transaction.atomic():
        if not job_redrive(job_id=job.id):
            return False
        audit_record(actor=user, action="job.redrive", target_type="job", target_id=job.id, detail={"kind": job.kind})
    return True


def jobs_sweep() -> dict[str, int]:
    """Re-send jobs whose broker message or worker was lost. Safe to run anywhere, any time."""
    now = timezone.now()
    # A job asked to stop whose worker died never reaches its next progress report: end it here.
    cancelled = Job.objects.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now, cancel_requested=True).update(
        status=Job.Status.CANCELLED, finished_at=now
    )
    exhausted = Job.objects.filter(
        status=Job.Status.RUNNING, lease_expires_at__lt=now, attempts__gte=F("max_attempts")
    ).update(status=Job.Status.FAILED, finished_at=now, error="worker lost on every attempt")
    lost_running = list(
        Job.objects.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now).values_list("id", flat=True)[:500]
    )
    stale = now - timedelta(seconds=settings.FLYWHEEL_JOB_REQUEUE_AFTER_S)
    lost_queued = list(
        Job.objects.filter(status=Job.Status.QUEUED, cancel_requested=False)
        .filter(Q(enqueued_at__lt=stale) | Q(enqueued_at__isnull=True, created_at__lt=stale))
        .values_list("id", flat=True)[:500]
    )
    for job_id in lost_running + lost_queued:
        job_dispatch(job_id=job_id)
    return {
        "requeued_running": len(lost_running),
        "requeued_queued": len(lost_queued),
        "failed": exhausted,
        "cancelled": cancelled,
    }
