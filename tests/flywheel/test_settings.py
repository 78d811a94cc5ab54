"""Settings come from the environment: the embedded default with nothing set, PostgreSQL and
Celery with DATABASE_URL and REDIS_URL, and production settings that pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from flywheel.env import env_bool, env_choice, env_int

REPO = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.FLYWHEEL_TASK_MODE, s.CELERY_BROKER_URL)"
)


def run_with_env(args, env, tmp_path):
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "FLYWHEEL_", "DJANGO_"))
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "flywheel.settings", "FLYWHEEL_VAR_DIR": str(tmp_path / "var"), **env})
    return subprocess.run([sys.executable, *args], cwd=REPO, env=clean, capture_output=True, text=True, timeout=120)


def test_with_nothing_set_flywheel_runs_on_sqlite_with_in_process_jobs(tmp_path):
    result = run_with_env(["-c", PRINT_SETTINGS], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["django.db.backends.sqlite3", "thread"]
    assert (tmp_path / "var" / "secret_key").exists()


def test_database_and_redis_urls_switch_to_postgresql_and_celery(tmp_path):
    env = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/flywheel", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    result = run_with_env(["-c", PRINT_SETTINGS], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "celery", "redis://127.0.0.1:6379/0"]


def test_production_settings_pass_check_deploy_with_no_warnings(tmp_path):
    env = {
        "FLYWHEEL_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": "k" * 30 + "-production-secret-" + "x" * 30,
        "DJANGO_ALLOWED_HOSTS": "flywheel.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/flywheel",
    }
    result = run_with_env(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_with_env(["-c", PRINT_SETTINGS], {"FLYWHEEL_PRODUCTION": "1"}, tmp_path)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    "helper, value",
    [
        (lambda: env_bool("FW_X", False), "maybe"),
        (lambda: env_int("FW_X", 1), "ten"),
        (lambda: env_choice("FW_X", "a", {"a", "b"}), "c"),
    ],
)
def test_a_malformed_environment_value_fails_loudly(monkeypatch, helper, value):
    monkeypatch.setenv("FW_X", value)
    with pytest.raises(ImproperlyConfigured, match="FW_X"):
        helper()
