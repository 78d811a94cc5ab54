"""Fixtures of the run tests: the tiny model under the model directory, a small dataset version
with three task types, and a trainer that pauses after each step so tests can act mid-run."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from tests.flywheel.datasets.conftest import build_version, logged_world  # noqa: F401  (shared fixtures)

SLOW_TRAINER = '''#!{python}
"""The ordinary trainer, pausing after each logged step; anything else runs as plain Python."""
import os, sys, time
if sys.argv[1:3] == ["-m", "training"]:
    import training.metrics
    write = training.metrics.MetricsWriter.write
    def write_then_wait(self, record):
        write(self, record)
        if record.get("kind") == "train":
            time.sleep({delay})
    training.metrics.MetricsWriter.write = write_then_wait
    from training.cli import main
    sys.exit(main(sys.argv[3:]))
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
'''

SMALL_RUN = {
    "max_steps": 12,
    "lr": 3e-3,
    "micro_batch_size": 4,
    "grad_accum": 1,
    "save_every": 4,
    "keep_checkpoints": 3,
    "max_len": 256,
    "warmup_ratio": 0.1,
}


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """Made once per test process under the model directory the form accepts."""
    from django.conf import settings

    from training.tiny_model import make_tiny_model

    target = Path(settings.VAR_DIR) / "models" / "tiny-test"
    if not (target / "config.json").is_file():
        make_tiny_model(target)
    return target


@pytest.fixture(scope="session")
def slow_trainer(tmp_path_factory) -> dict:
    """Worker environment whose trainer waits 0.4 s after each step."""
    path = tmp_path_factory.mktemp("slow-trainer") / "python"
    path.write_text(SLOW_TRAINER.format(python=sys.executable, delay=0.4))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return {"FLYWHEEL_TRAIN_PYTHON": str(path)}


@pytest.fixture
def small_version(logged_world, build_version):  # noqa: F811
    """About fifteen conversations of three task types (math, qa, unlabeled)."""
    return build_version(name="small", sources=["sessions"], eval_fraction=0.2)
