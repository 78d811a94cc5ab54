"""Writes of training runs: launch, cancel, resume. The training itself is the `runs.train`
job (flywheel/runs/execution.py) on the `gpu` queue."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from flywheel.accounts.services import audit_record
from flywheel.datasets.models import DatasetVersion
from flywheel.jobs.models import Job
from flywheel.jobs.services import job_cancel, job_create
from flywheel.runs.conf import model_roots
from flywheel.runs.hyperparameters import DISTRIBUTED, hyperparameters_clean
from flywheel.runs.models import TrainingRun
from flywheel.runs.plans import DEFAULT_DMT_SHARE
from flywheel.runs.selectors import run_plan

NAME_MAX = 120


def base_model_check(path: str) -> str:
    """The resolved path of a usable base model directory; ValueError says what is wrong: outside
    the allowed roots, missing, no config.json transformers can read, or no tokenizer."""
    if not path or not path.strip():
        raise ValueError(_("give the base model's directory"))
    resolved = Path(path.strip()).expanduser().resolve()
    roots = [root.resolve() for root in model_roots()]
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise ValueError(
            _("%(path)s is outside the model directories (%(roots)s; FLYWHEEL_MODEL_ROOTS sets them)")
            % {"path": resolved, "roots": ", ".join(map(str, roots))}
        )
    if not resolved.is_dir():
        raise ValueError(_("%(path)s does not exist or is not a directory") % {"path": resolved})
    if not (resolved / "config.json").is_file():
        raise ValueError(_("%(path)s is not a Hugging Face model directory (no config.json)") % {"path": resolved})
    try:
        from transformers import AutoConfig  # deferred: transformers takes seconds to import; only this check needs it

        AutoConfig.from_pretrained(str(resolved), local_files_only=True)
    except Exception as exc:  # transformers raises many kinds; each means "not loadable"
        raise ValueError(
            _("the model config in %(path)s cannot be loaded: %(error)s") % {"path": resolved, "error": exc}
        ) from exc
    if not (resolved / "tokenizer_config.json").is_file():
        raise ValueError(
            _("%(path)s has no tokenizer (tokenizer_config.json); the trainer needs one with a chat template")
            % {"path": resolved}
        )
    return str(resolved)


def training_run_create(
    *,
    dataset_version_id: int,
    base_model_path: str,
    hyperparameters: dict,
    distributed: str = "auto",
    name: str = "",
    user=None,
    strategy: str = "multi_task",
    other_version_ids: list[int] | None = None,
    specialist_task_types: list[str] | None = None,
    dmt_k: str = DEFAULT_DMT_SHARE,
) -> TrainingRun:
    """Check everything the trainer would refuse, record the run and queue its job on the gpu
    queue. A strategy other than multi-task on one version makes a plan of stages over the
    versions (flywheel/runs/plans.py). ValueError: nothing was created."""
    version = DatasetVersion.objects.filter(id=dataset_version_id).first()
    if version is None:
        raise ValueError(_("there is no dataset version %(id)s") % {"id": dataset_version_id})
    if version.train_count == 0:
        raise ValueError(
            _("dataset v%(id)s has no training conversation (it holds only preference pairs)") % {"id": version.id}
        )
    if distributed not in dict(DISTRIBUTED):
        raise ValueError(f"distributed must be one of {', '.join(dict(DISTRIBUTED))}")
    plan = run_plan(
        strategy=strategy,
        version_ids=[version.id, *(other_version_ids or [])],
        specialist_task_types=list(specialist_task_types or []),
        dmt_k=dmt_k,
    )
    model = base_model_check(base_model_path)
    clean = hyperparameters_clean(hyperparameters)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            name=name.strip()[:NAME_MAX],
            dataset_version=version,
            base_model_path=model,
            hyperparameters=clean,
            plan=plan or {},
            distributed=distributed,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        run.run_dir = str(Path(settings.FLYWHEEL_RUNS_DIR) / f"run-{run.id}")
        run.job = job_create(kind="runs.train", payload={"run_id": run.id}, created_by=user)
        run.save(update_fields=["run_dir", "job"])
        audit_record(
            actor=user,
            action="run.create",
            target_type="training_run",
            target_id=run.id,
            detail={
                "dataset_version": version.id,
                "base_model": model,
                "hyperparameters": clean,
                "distributed": distributed,
                "plan": {k: v for k, v in (plan or {}).items() if k != "stages"},
            },
        )
    return run


def training_run_cancel(*, run: TrainingRun, user=None) -> TrainingRun:
    """Ask the run to stop: a queued one stops at once, a running one at its trainer's next
    step boundary (SIGTERM; no checkpoint is written, resume continues from the last one)."""
    if run.is_finished:
        raise ValueError(_("the run is already %(status)s") % {"status": run.status})
    with transaction.atomic():
        if run.job_id:
            job_cancel(job_id=run.job_id)
        jobs = Job.objects.filter(id=run.job_id)
        stopped = run.job_id is None or jobs.filter(status=Job.Status.CANCELLED).exists()
        # A worker that died holds no trainer any more, and no one will pick up a job that is
        # asked to stop: the run ends here (resume continues from its latest checkpoint).
        orphaned = jobs.filter(status=Job.Status.RUNNING, lease_expires_at__lt=timezone.now()).exists()
        if stopped or orphaned:
            TrainingRun.objects.filter(
                id=run.id, status__in=(TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
            ).update(status=TrainingRun.Status.CANCELLED, finished_at=timezone.now())
        audit_record(actor=user, action="run.cancel", target_type="training_run", target_id=run.id)
    run.refresh_from_db()
    return run


def training_run_resume(*, run: TrainingRun, user=None) -> TrainingRun:
    """Queue a cancelled or failed run again: the trainer continues from its latest complete
    checkpoint (or starts over when it has none)."""
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(id=run.id)
        if locked.status not in (TrainingRun.Status.CANCELLED, TrainingRun.Status.FAILED):
            raise ValueError(
                _("only a cancelled or failed run can be resumed; this one is %(status)s") % {"status": locked.status}
            )
        locked.job = job_create(kind="runs.train", payload={"run_id": run.id}, created_by=user)
        locked.status, locked.error, locked.finished_at = TrainingRun.Status.QUEUED, "", None
        locked.save(update_fields=["job", "status", "error", "finished_at"])
        audit_record(actor=user, action="run.resume", target_type="training_run", target_id=run.id)
    return locked
