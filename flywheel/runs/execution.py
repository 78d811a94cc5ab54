"""The gpu worker's side of a training run: write the run directory, launch the trainer, tail
what it writes into the database, honour cancel, and finish.

Re-running the job is how a run survives a killed worker: the job's lease runs out, the
sweeper hands it to the next gpu worker, and this code starts the trainer again with
`resume: "auto"`, which continues from the latest complete checkpoint. Everything here is
idempotent for that reason: the data files are written once per dataset version or plan
(checked by a marker), config.json is rewritten identically, and metrics are upserted by (run, kind, step)
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
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from flywheel.datasets.exports import FORMATS, export_lines
from flywheel.datasets.models import DatasetSample, DatasetVersion
from flywheel.jobs.registry import JobCancelled, PermanentJobError, RetryableJobError
from flywheel.runs.metrics_tail import MetricsTail, log_tail
from flywheel.runs.models import TrainingRun
from flywheel.runs.plans import DEFAULT_DMT_SHARE, plan_stages, stage_samples
from flywheel.runs.selectors import plan_pool
from training.contract import CONFIG_FILE, EVAL_FILE, RESULT_FILE, TRAIN_FILE, atomic_writer

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


def _data_key(run: TrainingRun) -> str:
    """What the data files are made of: the versions' content hashes and the plan."""
    if not run.plan:
        return run.dataset_version.content_hash
    hashes = dict(DatasetVersion.objects.filter(id__in=run.plan["versions"]).values_list("id", "content_hash"))
    return json.dumps(
        {
            "versions": [hashes.get(v) for v in run.plan["versions"]],
            **{key: run.plan.get(key) for key in ("strategy", "specialist_task_types", "dmt_k", "seed")},
        },
        sort_keys=True,
    )


def _plan_lines(version_ids: list[int], split: str, wanted: set[str] | None = None) -> Iterator[str]:
    """The versions' SFT conversations of a split as the trainer reads them, each content hash
    once; only those in `wanted` when given. Read a page at a time."""
    convert = FORMATS["openai"][1]
    seen: set[str] = set()
    for version_id in version_ids:
        rows = DatasetSample.objects.filter(version_id=version_id, kind="sft", split=split)
        after = -1
        while True:
            page = list(rows.filter(position__gt=after).order_by("position")[:500])
            if not page:
                break
            after = page[-1].position
            for sample in page:
                if sample.sample_hash in seen or (wanted is not None and sample.sample_hash not in wanted):
                    continue
                seen.add(sample.sample_hash)
                yield json.dumps(convert(sample), ensure_ascii=False) + "\n"


def _write_plan_data(run: TrainingRun, run_dir: Path) -> dict:
    """One train file per stage of the plan (train.jsonl for a plan of one stage), eval.jsonl
    from the versions' eval splits; returns the marker's counts."""
    plan, versions = run.plan, run.plan["versions"]
    pool = plan_pool(version_ids=versions)
    stages = plan_stages(plan["strategy"], plan["specialist_task_types"], plan.get("dmt_k", DEFAULT_DMT_SHARE))
    written = []
    for number, stage in enumerate(stages, start=1):
        hashes = {s.sample_hash for s in stage_samples(pool, stage, plan["specialist_task_types"], plan.get("seed", 0))}
        name = TRAIN_FILE if len(stages) == 1 else f"train-{number}-{stage.name}.jsonl"
        written.append(
            {
                "name": stage.name,
                "data": name,
                "train": _write_atomically(run_dir / name, _plan_lines(versions, "train", hashes)),
            }
        )
    evaluation = _write_atomically(run_dir / EVAL_FILE, _plan_lines(versions, "eval"))
    return {"stages": written, "train": sum(stage["train"] for stage in written), "eval": evaluation}


def run_directory_prepare(run: TrainingRun, run_dir: Path, processes: int) -> dict:
    """The data files from the dataset version or the plan's versions (once) and config.json
    (every launch). A plan of several stages gets one train file per stage and `stages` in the
    config; every stage is evaluated on the same eval.jsonl, so its channels show what becomes
    of the skills earlier stages taught."""
    run_dir.mkdir(parents=True, exist_ok=True)
    version = run.dataset_version
    marker_path = run_dir / DATA_MARKER
    marker = json.loads(marker_path.read_text()) if marker_path.is_file() else {}
    key = _data_key(run)
    if marker.get("data_key", marker.get("content_hash")) != key:
        if run.plan:
            counts = _write_plan_data(run, run_dir)
        else:
            counts = {
                "train": _write_atomically(
                    run_dir / TRAIN_FILE, export_lines(version=version, format_name="openai", split="train")
                ),
                "eval": _write_atomically(
                    run_dir / EVAL_FILE, export_lines(version=version, format_name="openai", split="eval")
                ),
            }
        if counts["eval"] == 0:
            (run_dir / EVAL_FILE).unlink()
        marker = {"version_id": version.id, "content_hash": version.content_hash, "data_key": key, **counts}
        _write_atomically(marker_path, [json.dumps(marker)])
    stages = marker.get("stages") or []
    config = {
        "model": run.base_model_path,
        "output": ".",
        # The dataset carries a train flag on every assistant message; they decide.
        "supervise": "flagged",
        "resume": "auto",
        "log_every": 1,
        **run.hyperparameters,
    }
    if len(stages) > 1:
        config["stages"] = [{"name": stage["name"], "data": stage["data"]} for stage in stages]
    else:
        config["data"] = TRAIN_FILE
    if marker.get("eval"):
        config["eval_data"] = EVAL_FILE
    if _uses_deepspeed(run, processes):
        config["deepspeed"] = {
            "zero_optimization": {"stage": 2},
            "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto",
            "train_batch_size": "auto",
            "gradient_clipping": "auto",
        }
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
        return (
            [
                settings.FLYWHEEL_TRAIN_PYTHON,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={processes}",
                *trainer,
            ],
            f"torchrun ×{processes}",
        )
    return [settings.FLYWHEEL_TRAIN_PYTHON, *trainer], "python"


def expected_total_steps(run: TrainingRun, train_conversations: int | list[int], processes: int) -> int | None:
    """Steps of the run: of its one stage, or the sum over its plan's stages (each stage takes
    the run's epochs or max_steps)."""
    stages = train_conversations if isinstance(train_conversations, list) else [train_conversations]
    hyperparameters = run.hyperparameters
    if hyperparameters.get("max_steps"):
        return int(hyperparameters["max_steps"]) * len(stages)
    global_batch = hyperparameters.get("micro_batch_size", 1) * hyperparameters.get("grad_accum", 1) * processes
    if not all(stages):
        return None
    return sum(hyperparameters.get("epochs", 1) * math.ceil(count / global_batch) for count in stages)


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
        process = subprocess.Popen(
            [settings.FLYWHEEL_TRAIN_PYTHON, "-c", _DIE_WITH_PARENT, str(os.getpid()), *command],
            cwd=run_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
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
    return {
        "run_id": run.id,
        "status": run.status,
        "steps": run.current_step,
        "total_steps": run.total_steps,
        "first_loss": run.first_loss,
        "last_loss": run.last_loss,
        "resumed_from": run.resumed_from or None,
    }


def _finish(run: TrainingRun, tail: MetricsTail, run_dir: Path, status: str, error: str = "") -> None:
    tail.read()
    result = _read_result(run_dir)
    fields = {
        "status": status,
        "finished_at": timezone.now(),
        "error": error[:10_000],
        "result": result,
        "log_tail": log_tail(run_dir / LOG_FILE, settings.FLYWHEEL_TRAIN_LOG_LINES),
        **tail.run_fields(),
    }
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
    counts = (
        [stage["train"] for stage in marker["stages"]]
        if len(marker.get("stages") or []) > 1
        else marker.get("train", 0)
    )
    total = expected_total_steps(run, counts, processes)
    TrainingRun.objects.filter(id=run.id).update(
        status=TrainingRun.Status.RUNNING,
        started_at=Coalesce(F("started_at"), timezone.now()),
        launches=F("launches") + 1,
        launcher=launcher,
        processes=processes,
        total_steps=total,
        error="",
        finished_at=None,
    )
    process = _launch(command, run_dir)
    try:
        while True:
            exit_code = process.poll()
            tail.read()
            fields = tail.run_fields()
            TrainingRun.objects.filter(id=run.id).update(
                log_tail=log_tail(run_dir / LOG_FILE, settings.FLYWHEEL_TRAIN_LOG_LINES), **fields
            )
            step = fields.get("current_step", 0)
            note = (
                f"step {step}"
                + (f" of {total}" if total else "")
                + (f", loss {fields['last_loss']:.4f}" if fields.get("last_loss") is not None else "")
            )
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
    if exit_code == 0 and result.get("status") == "stopped":
        # --stop-on-alert: the trainer ended cleanly on a health alert; the run failed, with the alert as the reason.
        reason = f"stopped by a health alert: {result.get('stop_reason')}"
        _finish(run, tail, run_dir, TrainingRun.Status.FAILED, error=reason)
        raise PermanentJobError(reason)
    error = result.get("error") or log_tail(run_dir / LOG_FILE, 5) or f"the trainer exited with status {exit_code}"
    if exit_code is not None and exit_code < 0:
        # Killed by a signal (the OOM killer, a node drain): another attempt resumes from the checkpoint.
        TrainingRun.objects.filter(id=run.id).update(status=TrainingRun.Status.QUEUED, error=error[:10_000])
        raise RetryableJobError(f"the trainer was killed by signal {-exit_code}", retry_after_s=10)
    _finish(run, tail, run_dir, TrainingRun.Status.FAILED, error=error)
    raise PermanentJobError(f"training failed (exit status {exit_code}): {error[-2000:]}")
