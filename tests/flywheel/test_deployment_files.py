"""The deployment files: docker-compose.yml describes the services a real deployment needs,
and the README starts with the two commands."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_has_postgres_redis_web_a_worker_per_queue_and_a_gpu_worker_under_a_profile(compose):
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker-default", "worker-llm", "worker-gpu", "beat"} <= set(services)
    assert "gunicorn" in services["web"]["command"]
    for queue in ("default", "llm", "gpu"):
        command = services[f"worker-{queue}"]["command"]
        assert command[command.index("-Q") + 1] == queue
    assert services["worker-gpu"]["profiles"] == ["gpu"]


def test_the_verifier_runs_alone_without_network_secrets_or_data(compose):
    services = compose["services"]
    verifier = services["verifier"]
    assert verifier["network_mode"] == "none" and "flywheel.construction.verifier_service" in verifier["command"]
    assert set(verifier.get("environment", {})) <= {"PATH"} and "env_file" not in verifier
    assert [volume.split(":")[0] for volume in verifier["volumes"]] == ["verifier-socket"]
    llm = services["worker-llm"]
    assert llm["environment"]["FLYWHEEL_VERIFIER_SOCKET"].startswith("/run/verifier/")
    assert "verifier-socket:/run/verifier" in llm["volumes"] and "DJANGO_SECRET_KEY" in llm["environment"]


def test_every_service_image_or_build_and_every_dependency_exists(compose):
    services = compose["services"]
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_the_compose_file_is_accepted_by_compose_or_by_the_compose_specification(compose):
    """`docker compose config` where the compose plugin exists; elsewhere (no Docker engine
    here) the Compose Specification's own typed parser checks the same file."""
    env = {"DJANGO_SECRET_KEY": "x", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        result = subprocess.run(
            ["docker", "compose", "config", "--quiet"], cwd=REPO, capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, result.stderr
        return
    from compose_spec import PyCompose

    # PyYAML resolves the `<<: *app` merge keys that compose itself resolves.
    parsed = PyCompose.from_json(json.dumps(compose))
    assert set(parsed.service_names()) == set(compose["services"])


def test_the_readme_starts_with_the_run_and_test_commands():
    head = (REPO / "README.md").read_text()[:1500]
    assert "make run" in head and "make test" in head
    assert (REPO / ".ci" / "run").read_text().strip().endswith("make test")
