"""The demo's half of the loop after review: a replay file, a dataset version, the tiny model
and a short CPU training run (review decisions are in decisions.py).

Builds and runs are ordinary jobs; the demo waits for them here (in the embedded default they
run on this process's job threads).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from flywheel.datasets.models import DatasetBuild
from flywheel.datasets.services import dataset_build_request
from flywheel.demo.replay_corpus import GENERAL_CONVERSATIONS
from flywheel.i18n import shown
from flywheel.jobs.models import Job
from flywheel.runs.models import TrainingRun
from flywheel.runs.services import training_run_create
from training.contract import tiny_model_ensure

DEMO_REPLAY_FILE = "general-demo.jsonl"


class DemoError(RuntimeError):
    pass


# --- replay file, tiny model ------------------------------------------------------------------


def demo_replay_file_ensure() -> str:
    directory = Path(settings.FLYWHEEL_REPLAY_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {"messages": [{"role": r, "content": t} for r, t in turns], "task_type": "general"}, ensure_ascii=False
        )
        for turns in GENERAL_CONVERSATIONS
    ]
    (directory / DEMO_REPLAY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return DEMO_REPLAY_FILE


def demo_tiny_model_ensure() -> Path:
    """The tiny offline model under var/models, made on first use (a few seconds)."""
    return tiny_model_ensure(Path(settings.VAR_DIR) / "models" / "tiny-demo")


# --- waiting for jobs -------------------------------------------------------------------------


def job_wait(*, job_id: int, timeout_s: float, on_tick: Callable[[Job], None] | None = None) -> Job:
    deadline = time.monotonic() + timeout_s
    while True:
        job = Job.objects.get(id=job_id)
        if on_tick:
            on_tick(job)
        if job.is_finished:
            return job
        if time.monotonic() > deadline:
            hint = " (is a worker running for its queue?)" if settings.FLYWHEEL_TASK_MODE == "celery" else ""
            raise DemoError(f"job #{job_id} ({job.kind}) did not finish within {timeout_s:.0f} s{hint}")
        time.sleep(0.5)


DEMO_DATASET = {
    "cleaning_statuses": ["kept"],
    "continuity": "split",
    "supervision": "all",
    # More of the harder types, fewer of the easy chit-chat.
    "mix": {"code": 2, "math": 2, "reasoning": 2, "chitchat": 0.5},
    "pseudo_multi_turn_share": 0.1,
    "replay_file": DEMO_REPLAY_FILE,
    "replay_share": 0.1,
    "eval_fraction": 0.1,
}
DEMO_TRAINING = {
    "max_steps": 40,
    "lr": 3e-3,
    "micro_batch_size": 8,
    "grad_accum": 1,
    "warmup_ratio": 0.1,
    "save_every": 10,
    "keep_checkpoints": 2,
    "max_len": 512,
    "eval_every": 20,
}


def demo_dataset_build(*, seed: int, user, timeout_s: float = 600):
    build = dataset_build_request(config={**DEMO_DATASET, "seed": seed}, name="demo", user=user)
    job = job_wait(job_id=build.job_id, timeout_s=timeout_s)
    build = DatasetBuild.objects.select_related("version").get(id=build.id)
    if build.version is None:
        raise DemoError(f"the dataset build failed: {shown(build.error or job.error)}")
    return build


def demo_training_run(
    *, version, model: Path, user, on_step: Callable[[int, int | None, float | None], None], timeout_s: float = 900
):
    run = training_run_create(
        dataset_version_id=version.id,
        base_model_path=str(model),
        hyperparameters=DEMO_TRAINING,
        name="demo: tiny model on CPU",
        user=user,
    )
    last = [-1]

    def tick(job):
        current = TrainingRun.objects.filter(id=run.id).values("current_step", "total_steps", "last_loss").first()
        if current and current["current_step"] != last[0]:
            last[0] = current["current_step"]
            on_step(current["current_step"], current["total_steps"], current["last_loss"])

    job = job_wait(job_id=run.job_id, timeout_s=timeout_s, on_tick=tick)
    run.refresh_from_db()
    if run.status != TrainingRun.Status.COMPLETED:
        raise DemoError(f"the training run ended {run.status}: {shown(run.error or job.error)}")
    return run
