"""Settings of training runs, read from the environment (listed in .env.example)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings

from flywheel.env import env_float, env_int, env_list, env_str

# Directories base models may be taken from (a run's own final model is under FLYWHEEL_RUNS_DIR,
# so a trained model can be the base of the next run). Paths outside them are refused.
_model_roots = env_list("FLYWHEEL_MODEL_ROOTS", [])
# Trainer processes per run: 0 counts the GPUs the gpu worker sees (1 on a machine without any).
TRAIN_PROCESSES = env_int("FLYWHEEL_TRAIN_PROCESSES", 0, minimum=0)
# Python that runs the trainer (a GPU host may keep torch in another environment).
TRAIN_PYTHON = env_str("FLYWHEEL_TRAIN_PYTHON", "") or sys.executable
# How often the worker reads new metrics and checks for a cancel request.
TRAIN_POLL_S = max(0.1, env_float("FLYWHEEL_TRAIN_POLL_S", 1.0))
# Lines of the trainer's log kept on the run page.
LOG_TAIL_LINES = env_int("FLYWHEEL_TRAIN_LOG_LINES", 60, minimum=1)


def model_roots() -> list[Path]:
    roots = [Path(p) for p in _model_roots] or [Path(settings.VAR_DIR) / "models"]
    return [*roots, Path(settings.FLYWHEEL_RUNS_DIR)]


def runs_dir() -> Path:
    return Path(settings.FLYWHEEL_RUNS_DIR)
