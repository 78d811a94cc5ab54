"""The web side talks to the trainer only through `training.contract`, which loads no torch:
a Django process that serves pages does not carry torch's memory and start-up time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_loading_django_and_every_url_leaves_torch_unloaded():
    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; django.setup(); "
        "import flywheel.urls; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'deepspeed')); "
        "assert not loaded, loaded[:10]"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_the_contract_itself_imports_no_torch():
    code = "import sys, training.contract; assert 'torch' not in sys.modules"
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_the_web_side_imports_nothing_from_training_but_the_contract():
    offenders = []
    for path in (REPO / "flywheel").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(REPO)}: {name}"
                for name in names
                if name.split(".")[0] == "training" and name != "training.contract"
            ]
    assert not offenders, offenders
