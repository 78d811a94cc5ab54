"""`manage.py demo --no-serve` runs the whole loop on the embedded default (SQLite, jobs on
threads, no DATABASE_URL or REDIS_URL) from an empty var directory, asks nothing, and prints a
JSON summary last; run again, it adds nothing and reuses the dataset version.

The 600 s limit is the bound the issue sets for this machine, not a timing assertion."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# The test suite's own settings (PostgreSQL, Redis, Celery, short leases) must not leak into the demo.
NOT_FOR_THE_DEMO = (
    "DATABASE_URL",
    "REDIS_URL",
    "FLYWHEEL_TASK_MODE",
    "FLYWHEEL_TEST_DB_NAME",
    "FLYWHEEL_REDIS_PREFIX",
    "FLYWHEEL_JOB_LEASE_S",
    "FLYWHEEL_JOB_REQUEUE_AFTER_S",
    "FLYWHEEL_SWEEP_INTERVAL_S",
    "FLYWHEEL_TRAIN_PYTHON",
    "DJANGO_SETTINGS_MODULE",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
)


def run_demo(var_dir: Path, *arguments: str) -> tuple[dict, str]:
    env = {key: value for key, value in os.environ.items() if key not in NOT_FOR_THE_DEMO}
    env.update({"FLYWHEEL_VAR_DIR": str(var_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    completed = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, f"exit {completed.returncode}\n{completed.stderr[-6000:]}"
    return json.loads(completed.stdout.strip().splitlines()[-1]), completed.stderr


@pytest.fixture(scope="module")
def demo_var(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo-var")


@pytest.fixture(scope="module")
def first_demo(demo_var) -> dict:
    summary, _ = run_demo(demo_var)
    return summary


def test_the_demo_runs_the_loop_from_logs_to_a_trained_model_and_prints_its_summary(first_demo, demo_var):
    assert first_demo["sessions"] == 300
    assert first_demo["stages"]["cleaning"]["sessions"] == 300
    assert sum(first_demo["review_decisions"].values()) > 0
    assert first_demo["dataset_size"] > 0 and first_demo["dataset_train"] > 0
    assert first_demo["run"] and first_demo["last_loss"] < first_demo["first_loss"]
    assert len(first_demo["channels"]) > 1, "the loss is reported per task type"


def test_the_demo_run_is_in_the_database_the_ui_serves(first_demo, demo_var):
    with sqlite3.connect(demo_var / "flywheel.sqlite3") as db:
        status, steps, version = db.execute(
            "SELECT status, current_step, dataset_version_id FROM runs_trainingrun WHERE id = ?", (first_demo["run"],)
        ).fetchone()
        metrics = db.execute(
            "SELECT COUNT(*) FROM runs_runmetric WHERE run_id = ? AND kind = 'train'", (first_demo["run"],)
        ).fetchone()[0]
        demo_notes = db.execute(
            "SELECT COUNT(*) FROM review_reviewitem WHERE status = 'done' AND final_decision LIKE '%Demo decision%'"
        ).fetchone()[0]
    assert (status, version) == ("completed", first_demo["dataset_version"]) and metrics == steps > 0
    assert demo_notes == sum(first_demo["review_decisions"].values()), "every demo decision says it is one"


def test_running_the_demo_again_adds_nothing_and_finds_the_same_dataset_version(first_demo, demo_var):
    def counts():
        with sqlite3.connect(demo_var / "flywheel.sqlite3") as db:
            return [
                db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in (
                    "ingest_chatsession",
                    "ingest_message",
                    "ingest_feedback",
                    "review_reviewitem",
                    "datasets_datasetversion",
                )
            ]

    before = counts()
    again, _ = run_demo(demo_var, "--no-train")
    assert counts() == before
    assert again["review_decisions"] == {}
    assert (again["dataset_version"], again["dataset_hash"]) == (
        first_demo["dataset_version"],
        first_demo["dataset_hash"],
    )
