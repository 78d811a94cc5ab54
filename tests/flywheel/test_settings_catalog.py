"""One source for the settings: flywheel/settings.py reads every variable through a Section that
records it in the catalog; .env.example lists exactly the catalog's variables with the same
defaults, docs/settings.md is generated from it, and no other module reads the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.env import _FALSE, _TRUE, CATALOG
from flywheel.settings_doc import DOC_PATH, render

REPO = Path(__file__).resolve().parents[2]
LISTED = re.compile(r"^#\s?([A-Z][A-Z0-9_]+)=(\S*)", re.M)


def env_example() -> dict[str, str]:
    return dict(LISTED.findall((REPO / ".env.example").read_text()))


def as_read(kind: str, text: str):
    """A written value as the settings read it, so `60` and `60.0` or `1` and `true` compare equal."""
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text) if text else None
    if kind == "bool":
        assert text.lower() in _TRUE | _FALSE, text
        return text.lower() in _TRUE
    if kind == "list":
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return text


def test_env_example_lists_exactly_the_variables_the_settings_read():
    assert set(env_example()) == set(CATALOG)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_env_example_shows_each_variable_with_its_default_or_its_example(name):
    variable = CATALOG[name]
    shown = env_example()[name]
    expected = variable.example if variable.example is not None else variable.default
    assert as_read(variable.kind, shown) == as_read(variable.kind, expected), f"{name}: .env.example shows {shown!r}"


def test_every_variable_has_a_description():
    assert [name for name, variable in CATALOG.items() if not variable.doc.strip()] == []


def test_docs_settings_md_is_the_table_generated_from_the_catalog():
    assert DOC_PATH.read_text() == render(), "run: python -m flywheel.settings_doc"


# Reading the environment anywhere but settings.py (and env.py's helpers) would bring back
# settings that are read twice, at import or on every call, and that tests cannot override.
ENV_READ = re.compile(r"os\.environ|os\.getenv|\benv_[a-z]+\(")
NOT_A_READ = (
    'os.environ.setdefault("DJANGO_SETTINGS_MODULE"',  # celery.py, wsgi.py
    "**os.environ",
)  # this process's environment handed on to a child (the trainer)


def test_no_module_but_the_settings_reads_the_environment():
    readers = []
    for path in (REPO / "flywheel").rglob("*.py"):
        if path.relative_to(REPO).as_posix() in ("flywheel/settings.py", "flywheel/env.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for allowed in NOT_A_READ:
                line = line.replace(allowed, "")
            if ENV_READ.search(line):
                readers.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert readers == []


def test_every_flywheel_variable_the_manual_names_is_a_setting():
    manual = [REPO / "README.md", REPO / "SECURITY.md", REPO / "training" / "README.md", *(REPO / "docs").glob("*.md")]
    named = {
        name
        for path in manual
        if path.exists()
        for name in re.findall(r"\bFLYWHEEL_[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    assert named - set(CATALOG) == set()


def test_a_value_out_of_its_range_stops_start_up_naming_the_variable(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "FLYWHEEL_", "DJANGO_"))
    }
    env.update({"FLYWHEEL_VAR_DIR": str(tmp_path / "var"), "FLYWHEEL_CONSTRUCTION_N": "99"})
    result = subprocess.run(
        [sys.executable, "-c", "import flywheel.settings"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "FLYWHEEL_CONSTRUCTION_N=99 must be between 1 and 16" in result.stderr
