"""Real Celery worker processes for tests, on the real Redis, against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from django.db import connection

from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class CeleryWorker:
    def __init__(self, *, queues: str = "default,llm,gpu", beat: bool = True, extra_env: dict | None = None):
        self.queues = queues
        self.beat = beat
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.workdir = Path(tempfile.mkdtemp(prefix="flywheel-worker-"))
        self.log_path = self.workdir / "worker.log"
        self.env = {
            **os.environ,
            # The product's settings plus the test-only job kind (tests/support/selftest).
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": test_database_url(),
            "FLYWHEEL_TASK_MODE": "celery",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "flywheel",
            "worker",
            "-Q",
            self.queues,
            "-n",
            self.name,
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
        ]
        if self.beat:
            command += ["-B", "-s", str(self.workdir / "beat-schedule")]
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(
            lambda: b" ready." in self.log_path.read_bytes() or self.process.poll() is not None,
            timeout=90,
            what="the Celery worker to start",
        )
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited at start:\n{self.output()}")
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handlers, no acks."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if hasattr(self, "log"):
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
