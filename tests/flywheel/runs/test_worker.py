"""Training runs on real gpu-queue workers: a worker killed mid-run (SIGKILL of its whole
process group) is replaced and the run continues from its last checkpoint; a cancelled run
stops cleanly and resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flywheel.runs.models import RunMetric, TrainingRun
from flywheel.runs.services import training_run_cancel, training_run_create, training_run_resume
from tests.flywheel.runs.conftest import SMALL_RUN
from tests.support.waiting import wait_for

pytestmark = pytest.mark.worker


def run_now(run_id: int) -> TrainingRun:
    return TrainingRun.objects.get(id=run_id)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def metrics_lines(run: TrainingRun) -> list[dict]:
    return [json.loads(line) for line in (Path(run.run_dir) / "metrics.jsonl").read_text().splitlines()]


def test_a_run_whose_worker_is_killed_resumes_from_its_last_checkpoint(
    small_version, tiny_model, start_worker, slow_trainer, ops_user
):
    first = start_worker(queues="gpu", beat=False, extra_env=slow_trainer)
    run = training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN, user=ops_user
    )
    wait_for(
        lambda: any(c["step"] == 4 for c in run_now(run.id).checkpoints) and run_now(run.id).current_step >= 5,
        timeout=180,
        what="a checkpoint at step 4 and a step past it",
    )
    trainer_pid = int((Path(run.run_dir) / "trainer.pid").read_text())
    first.kill()
    killed_at = run_now(run.id).current_step
    assert 5 <= killed_at < 12, "the kill must land mid-run"
    wait_for(lambda: not alive(trainer_pid), timeout=30, what="the trainer to die with its worker")

    # The new worker also takes the default queue, where its beat sends the sweeper that finds the lost job.
    start_worker(queues="gpu,default", beat=True, extra_env=slow_trainer)
    wait_for(lambda: run_now(run.id).is_finished, timeout=240, what="the relaunched run to finish")

    run = run_now(run.id)
    assert run.status == "completed", run.error
    assert run.launches == 2 and run.result["steps"] == run.result["total_steps"] == 12
    resumed = [line for line in metrics_lines(run) if line["kind"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["step"] >= 4, "the relaunched trainer continued from a checkpoint"
    assert run.result["resumed_from"].endswith(f"step-{resumed[0]['step']}")
    assert list(
        RunMetric.objects.filter(run=run, kind="train").order_by("step").values_list("step", flat=True)
    ) == list(range(1, 13))
    assert Path(run.result["final_model"], "model.safetensors").is_file()


def test_a_cancelled_run_stops_at_a_step_boundary_and_resumes_from_its_checkpoint(
    small_version, tiny_model, start_worker, slow_trainer, ops_user
):
    start_worker(queues="gpu", beat=False, extra_env=slow_trainer)
    run = training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN, user=ops_user
    )
    wait_for(
        lambda: run_now(run.id).checkpoints and run_now(run.id).current_step >= 5,
        timeout=180,
        what="a checkpoint and a step past it",
    )
    training_run_cancel(run=run_now(run.id), user=ops_user)
    wait_for(lambda: run_now(run.id).is_finished, timeout=120, what="the run to stop")
    cancelled = run_now(run.id)
    assert cancelled.status == "cancelled" and cancelled.result["status"] == "cancelled"
    assert cancelled.job.status == "cancelled" and cancelled.current_step < 12

    training_run_resume(run=cancelled, user=ops_user)
    wait_for(lambda: run_now(run.id).is_finished, timeout=180, what="the resumed run to finish")
    finished = run_now(run.id)
    assert finished.status == "completed", finished.error
    assert finished.result["resumed_from"] and finished.current_step == 12
