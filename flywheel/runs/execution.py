"""The gpu worker's side of a training run: write the run directory, launch the trainer, tail
what it writes into the database, honour cancel, and finish.

Re-running the job is how a run survives a killed worker: the job's lease runs out, the
sweeper hands it to the next gpu worker, and this code starts the trainer again with
`resume: "auto"`, which continues from the latest complete checkpoint. Everything here is
idempotent for that reason: the data files are written once per dataset version (checked by
a marker), config.json is rewritten identically, and metrics are upserted by (run, kind, step)
from the start of metrics.jsonl.

The trainer dies with the worker: it runs in the worker's process group (a kill of the group
takes it along) and asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), and a
trainer left over from an earlier attempt (found by its pid file) is stopped before a new one
starts, so two trainers never write one directory.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from training.contract import CONFIG_FILE, EVAL_FILE, RESULT_FILE, TRAIN_FILE, atomic_writer

from flywheel.datasets.exports import export_lines
from flywheel.jobs.registry import JobCancelled, PermanentJobError, RetryableJobError
from flywheel.runs.metrics_tail import MetricsTail, log_tail
from flywheel.runs.models import TrainingRun

logger = logging.getLogger(__name__)

PID_FILE = "trainer.pid"
LOG_FILE = "trainer.log"
DATA_MARKER = "dataset.json"
STOP_GRACE_S = 120
# Started through this stub so that the trainer gets SIGKILL if the worker dies (Linux), then
# becomes the trainer itself (exec), keeping its pid.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "parent = int(sys.argv[1])\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != parent:\n"
    "    sys.exit(1)  # the worker died before the request took effect\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


# --- the run directory ------------------------------------------------------------------------


def _write_atomically(path: Path, lines) -> int:
    count = 0
    with atomic_writer(path) as handle:
        for line in lines:
            handle.write(line)
            count += 1
    return count


def run_directory_prepare(run: TrainingRun, run_dir: Path, processes: int) -> dict:
    """train.jsonl / eval.jsonl from the dataset version (once) and config.json (every launch)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    version = run.dataset_version
    marker_path = run_dir / DATA_MARKER
    marker = json.loads(marker_path.read_text()) if marker_path.is_file() else {}
    if marker.get("content_hash") != version.content_hash:
        train = _write_atomically(run_dir / TRAIN_FILE, export_lines(version=version, format_name="openai", split="train"))
        evaluation = _write_atomically(run_dir / EVAL_FILE, export_lines(version=version, format_name="openai", split="eval"))
        if evaluation == 0:
            (run_dir / EVAL_FILE).unlink()
        marker = {"version_id": version.id, "content_hash": version.content_hash, "train": train, "eval": evaluation}
        _write_atomically(marker_path, [json.dumps(marker)])
    config = {
        "model": run.base_model_path,
        "data": TRAIN_FILE,
        "output": ".",
        # The dataset carries a train flag on every assistant message; they decide.
        "supervise": "flagged",
        "resume": "auto",
        "log_every": 1,
        **run.hyperparameters,
    }
    if marker.get("eval"):
        config["eval_data"] = EVAL_FILE
    if _uses_deepspeed(run, processes):
        config["deepspeed"] = {"zero_optimization": {"stage": 2}, "train_micro_batch_size_per_gpu": "auto",
                               "gradient_accumulation_steps": "auto", "train_batch_size": "auto",
                               "gradient_clipping": "auto"}
    _write_atomically(run_dir / CONFIG_FILE, [json.dumps(config, indent=2, ensure_ascii=False)])
    return marker


def _uses_deepspeed(run: TrainingRun, processes: int) -> bool:
    return run.distributed == "zero2" or (run.distributed == "auto" and processes > 1)


def trainer_processes() -> int:
    if settings.FLYWHEEL_TRAIN_PROCESSES:
        return settings.FLYWHEEL_TRAIN_PROCESSES
    import torch  # only the gpu worker gets here: it counts the GPUs the trainer will use

    return max(1, torch.cuda.device_count())


def trainer_command(run_dir: Path, processes: int) -> tuple[list[str], str]:
    trainer = ["-m", "training", "sft", "--config", str(run_dir / CONFIG_FILE)]
    if processes > 1:
        return ([settings.FLYWHEEL_TRAIN_PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                 *trainer], f"torchrun ×{processes}")
    return [settings.FLYWHEEL_TRAIN_PYTHON, *trainer], "python"


def expected_total_steps(run: TrainingRun, train_conversations: int, processes: int) -> int | None:
    hyperparameters = run.hyperparameters
    if hyperparameters.get("max_steps"):
        return int(hyperparameters["max_steps"])
    global_batch = hyperparameters.get("micro_batch_size", 1) * hyperparameters.get("grad_accum", 1) * processes
    return hyperparameters.get("epochs", 1) * math.ceil(train_conversations / global_batch) if train_conversations else None


# --- the trainer process ----------------------------------------------------------------------


def _is_our_trainer(pid: int, run_dir: Path) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"training" in command and any(str(run_dir).encode() in part for part in command)


def stop_stale_trainer(run_dir: Path) -> None:
    """A trainer an earlier attempt started may outlive its worker (another host's kill, a
    platform without PR_SET_PDEATHSIG): stop it before a new one writes the same directory."""
    pid_file = run_dir / PID_FILE
    if not pid_file.is_file():
        return
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid_file.unlink(missing_ok=True)
        return
    if _is_our_trainer(pid, run_dir):
        logger.warning("stopping trainer %s left over from an earlier attempt in %s", pid, run_dir)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while _is_our_trainer(pid, run_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _is_our_trainer(pid, run_dir):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def _launch(command: list[str], run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    log = open(run_dir / LOG_FILE, "ab")
    try:
        process = subprocess.Popen([settings.FLYWHEEL_TRAIN_PYTHON, "-c", _DIE_WITH_PARENT, str(os.getpid()), *command],
                                   cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()
    (run_dir / PID_FILE).write_text(str(process.pid))
    return process


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM: the trainer stops at its next step boundary and writes result.json."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the job ----------------------------------------------------------------------------------


def _read_result(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _summary(run: TrainingRun) -> dict:
    run.refresh_from_db()
    return {"run_id": run.id, "status": run.status, "steps": run.current_step, "total_steps": run.total_steps,
            "first_loss": run.first_loss, "last_loss": run.last_loss, "resumed_from": run.resumed_from or None}


def _finish(run: TrainingRun, tail: MetricsTail, run_dir: Path, status: str, error: str = "") -> None:
    tail.read()
    result = _read_result(run_dir)
    fields = {"status": status, "finished_at": timezone.now(), "error": error[:10_000], "result": result,
              "log_tail": log_tail(run_dir / LOG_FILE, settings.FLYWHEEL_TRAIN_LOG_LINES), **tail.run_fields()}
    if result.get("total_steps"):
        fields["total_steps"] = result["total_steps"]
    if result.get("resumed_from"):
        fields["resumed_from"] = result["resumed_from"]
    if result.get("eval_loss") is not None:
        fields["eval_loss"] = result["eval_loss"]
    TrainingRun.objects.filter(id=run.id).update(**fields)


def training_run_execute(*, run_id: int, ctx) -> dict:
    run = TrainingRun.objects.select_related("dataset_version").get(id=run_id)
    if run.status == TrainingRun.Status.COMPLETED:
        return _summary(run)
    run_dir = Path(run.run_dir)
    tail = MetricsTail(run=run, run_dir=run_dir)
    if _read_result(run_dir).get("status") == "completed":
        _finish(run, tail, run_dir, TrainingRun.Status.COMPLETED)  # finished before the last worker could say so
        return _summary(run)
    processes = trainer_processes()
    marker = run_directory_prepare(run, run_dir, processes)
    stop_stale_trainer(run_dir)
    (run_dir / RESULT_FILE).unlink(missing_ok=True)
    command, launcher = trainer_command(run_dir, processes)
    total = expected_total_steps(run, marker.get("train", 0), processes)
    TrainingRun.objects.filter(id=run.id).update(
        status=TrainingRun.Status.RUNNING, started_at=Coalesce(F("started_at"), timezone.now()), launches=F("launches") + 1,
        launcher=launcher, processes=processes, total_steps=total, error="", finished_at=None)
    process = _launch(command, run_dir)
    try:
        while True:
            exit_code = process.poll()
            tail.read()
            fields = tail.run_fields()
            TrainingRun.objects.filter(id=run.id).update(
                log_tail=log_tail(run_dir / LOG_FILE, settings.FLYWHEEL_TRAIN_LOG_LINES), **fields)
            step = fields.get("current_step", 0)
            note = f"step {step}" + (f" of {total}" if total else "") + (f", loss {fields['last_loss']:.4f}" if fields.get("last_loss") is not None else "")
            ctx.progress(step, total, note)  # raises JobCancelled when someone asked to stop
            if exit_code is not None:
                break
            time.sleep(settings.FLYWHEEL_TRAIN_POLL_S)
    except JobCancelled:
        _stop(process)
        _finish(run, tail, run_dir, TrainingRun.Status.CANCELLED)
        raise
    except BaseException:
        _stop(process)
        raise
    finally:
        (run_dir / PID_FILE).unlink(missing_ok=True)
    result = _read_result(run_dir)
    if exit_code == 0 and result.get("status") == "completed":
        _finish(run, tail, run_dir, TrainingRun.Status.COMPLETED)
        return _summary(run)
    if exit_code == 0 and result.get("status") == "cancelled":
        _finish(run, tail, run_dir, TrainingRun.Status.CANCELLED)
        raise JobCancelled()
    error = result.get("error") or log_tail(run_dir / LOG_FILE, 5) or f"the trainer exited with status {exit_code}"
    if exit_code is not None and exit_code < 0:
        # Killed by a signal (the OOM killer, a node drain): another attempt resumes from the checkpoint.
        TrainingRun.objects.filter(id=run.id).update(status=TrainingRun.Status.QUEUED, error=error[:10_000])
        raise RetryableJobError(f"the trainer was killed by signal {-exit_code}", retry_after_s=10)
    _finish(run, tail, run_dir, TrainingRun.Status.FAILED, error=error)
    raise PermanentJobError(f"training failed (exit status {exit_code}): {error[-2000:]}")
