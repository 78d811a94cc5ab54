"""The verifier as a separate service: a real service process on a Unix socket runs programs in
the sandbox for a worker; a service that is down or cannot sandbox refuses, never runs bare."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from flywheel.construction.sandbox import SandboxUnavailable
from flywheel.construction.verifier_service import answer, run_remote
from flywheel.construction.verifiers import run_python_tests

REPO = Path(__file__).resolve().parents[3]
TESTS = "assert add(2, 3) == 5"


@pytest.fixture
def service(tmp_path):
    """`python -m flywheel.construction.verifier_service` with an empty environment, as in
    docker-compose; yields its socket path."""
    socket_path = tmp_path / "verifier.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "flywheel.construction.verifier_service", "--socket", str(socket_path)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()
            time.sleep(0.05)
        yield str(socket_path)
    finally:
        process.kill()
        process.wait()


def test_a_worker_with_a_verifier_socket_runs_code_through_the_service(service, settings):
    settings.FLYWHEEL_VERIFIER_SOCKET = service
    assert run_python_tests("def add(a, b):\n    return a + b", TESTS).passed
    failed = run_python_tests("def add(a, b):\n    return a - b", TESTS)
    assert not failed.passed and "AssertionError" in failed.detail


def test_code_run_by_the_service_is_still_sandboxed(service):
    result = run_remote(service, "import socket\nsocket.socket()\nprint('ESCAPED')", cpu_s=2, wall_s=5, memory_mb=256)
    assert result.returncode != 0 and b"ESCAPED" not in result.stdout and b"PermissionError" in result.stderr


def test_a_service_that_is_down_makes_code_verification_unavailable_not_bare(tmp_path, settings):
    settings.FLYWHEEL_VERIFIER_SOCKET = str(tmp_path / "nobody-listens.sock")
    result = run_python_tests("def add(a, b):\n    return a + b", TESTS)
    assert result.unavailable and not result.passed and "not reachable" in result.detail
    with pytest.raises(SandboxUnavailable):
        run_remote(str(tmp_path / "nobody-listens.sock"), "pass", cpu_s=1, wall_s=1, memory_mb=64)


@pytest.mark.parametrize(
    "request_line, message",
    [
        (b"not json", "unreadable request"),
        (b'{"source": 1, "cpu_s": 1, "wall_s": 1, "memory_mb": 64}', "unreadable request"),
        (b'{"source": "pass", "cpu_s": 0, "wall_s": 1, "memory_mb": 64}', "unreadable request"),
        (b'{"source": "pass"}', "unreadable request"),
        (b"x" * (4 * 1024 * 1024), "over"),
    ],
)
def test_the_service_answers_a_bad_request_with_an_error(request_line, message):
    assert message in answer(request_line)["error"]
