"""Where the public samples for tests are: `../shared/datasets` beside the checkout.

A fresh clone made elsewhere (CI clones the repository into a directory of its own) finds them
beside the repository it was cloned from, or through FLYWHEEL_SHARED_DATASETS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _origin_checkout() -> Path | None:
    try:
        url = subprocess.run(
            ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(url.removeprefix("file://")) if url and "://" not in url.removeprefix("file://") else None
    return path if path and path.is_dir() else None


def shared_datasets_dir() -> Path:
    candidates = [os.environ.get("FLYWHEEL_SHARED_DATASETS"), REPO.parent / "shared" / "datasets"]
    origin = _origin_checkout()
    if origin is not None:
        candidates.append(origin.resolve().parent / "shared" / "datasets")
    for candidate in candidates:
        if candidate and (Path(candidate) / "hh-rlhf-harmless-base-test.jsonl.gz").is_file():
            return Path(candidate)
    return REPO.parent / "shared" / "datasets"  # where they belong; tests then fail naming it


SHARED_DATASETS = shared_datasets_dir()
