"""The soak (bench/soak.py), short: the whole stack on its own PostgreSQL and Redis under a
minute of client load while workers, Redis, PostgreSQL, gunicorn workers and the LLM fail.

The script waits for conditions (services ready, the system settled) with generous limits and
judges only outcomes: what the clients were told was stored, what the stages produced, which
jobs are left. It never asserts a timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.workers import REPO

pytestmark = [pytest.mark.soak, pytest.mark.worker]


def test_under_load_and_faults_nothing_is_lost_or_doubled_and_no_job_is_stuck():
    run = subprocess.run(
        [sys.executable, "bench/soak.py", "--duration", "40", "--seed", "19"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=570,
    )
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0 and lines, f"soak failed ({run.returncode}):\n{run.stdout}\n{run.stderr[-8000:]}"
    report = json.loads(lines[-1])
    assert (report["lost"], report["duplicated"], report["stuck"]) == (0, 0, 0), run.stderr[-8000:]
    assert report["memory_bounded"] and report["events"] > 0
    # Every kind of fault happened at least once while the clients were sending.
    assert set(report["faults"]) == {
        "worker_kill",
        "redis_restart",
        "postgres_restart",
        "gunicorn_worker_kill",
        "llm_errors",
    }
    assert all(count >= 1 for count in report["faults"].values()), report["faults"]
