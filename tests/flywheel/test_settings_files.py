"""The var directory and its secrets are this user's only, from the moment they exist: var/
0700; secret_key, user_id_salt and the SQLite database (with its WAL files) 0600, whatever the
umask. FLYWHEEL_USER_ID_SALT is a value of its own, not part of the secret key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OPEN_THE_DATABASE = (
    "import django; django.setup(); from django.conf import settings as s; from django.db import connection; "
    "connection.ensure_connection(); connection.cursor().execute('CREATE TABLE IF NOT EXISTS t (x int)'); "
    "print(s.SECRET_KEY); print(s.FLYWHEEL_USER_ID_SALT); "
    # SQLite's -wal and -shm files exist while the connection is open.
    "import glob, os; print(' '.join(oct(os.stat(p).st_mode & 0o777) for p in glob.glob(f'{s.VAR_DIR}/*.sqlite3-*')))"
)


def run_embedded(var: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "FLYWHEEL_", "DJANGO_"))
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "flywheel.settings", "FLYWHEEL_VAR_DIR": str(var), **env})
    result = subprocess.run(
        [sys.executable, "-c", OPEN_THE_DATABASE],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_var_directory_and_its_secret_files_are_private_despite_a_permissive_umask(tmp_path):
    var = tmp_path / "var"
    wal_modes = run_embedded(var).stdout.splitlines()[2].split()
    assert mode(var) == 0o700
    for name in ("secret_key", "user_id_salt", "flywheel.sqlite3"):
        assert mode(var / name) == 0o600, name
    assert wal_modes == ["0o600", "0o600"]  # SQLite gives its WAL files the database's mode


def test_an_older_installation_left_readable_by_others_is_tightened(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    os.chmod(var, 0o755)
    (var / "secret_key").write_text("an-old-secret-key-" + "x" * 40)
    os.chmod(var / "secret_key", 0o644)
    result = run_embedded(var)
    assert result.stdout.splitlines()[0] == "an-old-secret-key-" + "x" * 40
    assert mode(var) == 0o700 and mode(var / "secret_key") == 0o600


def test_the_user_id_salt_is_its_own_value_kept_across_restarts(tmp_path):
    var = tmp_path / "var"
    key, salt = run_embedded(var).stdout.split()[:2]
    assert len(salt) >= 32 and salt not in key and key[:32] != salt
    assert run_embedded(var).stdout.split()[:2] == [key, salt]
    assert (var / "user_id_salt").read_text().strip() == salt


def test_a_configured_user_id_salt_is_used_and_nothing_is_written(tmp_path):
    var = tmp_path / "var"
    _, salt = run_embedded(var, FLYWHEEL_USER_ID_SALT="configured-salt").stdout.split()[:2]
    assert salt == "configured-salt" and not (var / "user_id_salt").exists()


def test_starting_twice_at_once_agrees_on_one_secret_key(tmp_path):
    from flywheel.env import private_value

    target = tmp_path / "secret"
    values = iter(["first", "second"])
    assert private_value(target, lambda: next(values)) == "first"
    assert private_value(target, lambda: next(values)) == "first"
    assert mode(target) == 0o600 and [p.name for p in tmp_path.iterdir()] == ["secret"]  # no temporary left
