"""What the web side and the trainer share, importable without torch.

The web side (Django) imports only this module from `training`: the run directory's file
names, the config fields and their validation, the loss modes and label conventions, how to
list checkpoints and read metrics, and how a conversation becomes tokens and supervised spans
(the loss preview shows exactly what the trainer will train on). Everything that needs torch
runs in the trainer's own process (`python -m training ...`). A test checks that loading the
web side leaves torch out of `sys.modules`.

Run directory:

    RUN_DIR/config.json          in: TrainConfig fields (relative paths are relative to RUN_DIR)
    RUN_DIR/train.jsonl          in: {"messages": [...]} a line
    RUN_DIR/eval.jsonl           in, optional
    RUN_DIR/metrics.jsonl        out: one JSON object a line ("kind": "train" | "eval" | ...)
    RUN_DIR/checkpoints/step-N/  out: complete checkpoints (a directory appears only when whole)
    RUN_DIR/final/               out: the final model, Hugging Face format
    RUN_DIR/stages/N-NAME/       out: a plan's completed stages (training/stages.py)
    RUN_DIR/result.json          out: status, steps, losses, final model path
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from training.config import (
    ATTENTION_IMPLEMENTATIONS,
    FIELD_NAMES,
    LR_SCHEDULERS,
    OPTIMIZERS,
    SUPERVISE_MODES,
    ConfigError,
    TrainConfig,
    build_config,
    config_as_dict,
    config_from_file,
    field_help,
)
from training.conventions import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    EVAL_FILE,
    FINAL_DIR,
    IGNORE_INDEX,
    LOSS_MODES,
    METRICS_FILE,
    NO_TURN,
    RESULT_FILE,
    RUN_OUTPUTS,
    SPECIAL_TOKENS_CHANNEL,
    STAGE_FILE,
    STAGES_DIR,
    STATE_FILE,
    TRAIN_FILE,
)
from training.data import Conversation, DataError, conversation_from_record
from training.files import atomic_writer
from training.metrics import read_metrics
from training.stages import (
    CHECKPOINT_NAME,
    Stage,
    checkpoint_name,
    checkpoint_position,
    plan_stages,
    stage_dir,
    stage_record,
)
from training.tokenization import (
    TemplateError,
    TokenizationReport,
    assistant_turn_spans,
    load_tokenizer,
    tokenize_conversation,
)


def checkpoint_dir(output: Path, step: int, stage: Stage | None = None) -> Path:
    return Path(output) / CHECKPOINTS_DIR / checkpoint_name(step, stage)


def complete_checkpoints(output: Path) -> list[Path]:
    """Finished checkpoints, oldest first (by stage, then step)."""
    root = Path(output) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        position = checkpoint_position(child)
        if position is not None and (child / STATE_FILE).is_file():
            number, _, step = position
            found.append(((number, step), child))
    return [path for _, path in sorted(found)]


def latest_checkpoint(output: Path) -> Path | None:
    checkpoints = complete_checkpoints(output)
    return checkpoints[-1] if checkpoints else None


def read_trainer_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / STATE_FILE).read_text())


def is_model_directory(path: Path) -> bool:
    """A Hugging Face model directory with its tokenizer (what --model takes)."""
    return (Path(path) / "config.json").is_file() and (Path(path) / "tokenizer_config.json").is_file()


def tiny_model_ensure(target: Path, *, timeout_s: float = 300) -> Path:
    """The trainer's tiny offline model at `target`, written on first use by the trainer in a
    process of its own (`python -m training make-tiny-model`: the web side never loads torch).
    It is built beside the target and renamed into place, so a half-written model is never used
    and a process racing this one either wins the rename or finds the finished directory.
    RuntimeError with the trainer's output when it fails."""
    target = Path(target)
    if is_model_directory(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{target.name}-{uuid.uuid4().hex}"
    completed = subprocess.run(
        [sys.executable, "-m", "training", "make-tiny-model", "--output", str(scratch)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise RuntimeError(f"the trainer could not write the tiny model: {completed.stderr.strip()[-1000:]}")
    try:
        os.rename(scratch, target)
    except OSError:  # another process finished first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


__all__ = [
    "ATTENTION_IMPLEMENTATIONS",
    "CHECKPOINTS_DIR",
    "atomic_writer",
    "CHECKPOINT_NAME",
    "CONFIG_FILE",
    "EVAL_FILE",
    "FIELD_NAMES",
    "FINAL_DIR",
    "IGNORE_INDEX",
    "LOSS_MODES",
    "LR_SCHEDULERS",
    "METRICS_FILE",
    "NO_TURN",
    "OPTIMIZERS",
    "RESULT_FILE",
    "RUN_OUTPUTS",
    "SPECIAL_TOKENS_CHANNEL",
    "STAGE_FILE",
    "STAGES_DIR",
    "STATE_FILE",
    "SUPERVISE_MODES",
    "TRAIN_FILE",
    "ConfigError",
    "Conversation",
    "DataError",
    "Stage",
    "TemplateError",
    "TokenizationReport",
    "TrainConfig",
    "assistant_turn_spans",
    "build_config",
    "checkpoint_dir",
    "checkpoint_name",
    "checkpoint_position",
    "complete_checkpoints",
    "config_as_dict",
    "config_from_file",
    "conversation_from_record",
    "field_help",
    "is_model_directory",
    "latest_checkpoint",
    "load_tokenizer",
    "plan_stages",
    "read_metrics",
    "read_trainer_state",
    "stage_dir",
    "stage_record",
    "tiny_model_ensure",
    "tokenize_conversation",
]
