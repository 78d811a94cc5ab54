"""Paths derived from the training settings (read in flywheel/settings.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def model_roots() -> list[Path]:
    """Directories base models (and dataset tokenizers) may be taken from: FLYWHEEL_MODEL_ROOTS,
    and FLYWHEEL_RUNS_DIR, so a trained model can be the base of the next run. Paths outside
    them are refused."""
    return [*map(Path, settings.FLYWHEEL_MODEL_ROOTS), Path(settings.FLYWHEEL_RUNS_DIR)]
