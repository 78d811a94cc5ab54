from __future__ import annotations

import logging
from typing import Callable

from flywheel.pipeline.registry import stages_in_order

logger = logging.getLogger(__name__)


def pipeline_run(*, only: set[str] | None = None, on_stage: Callable[[int, int, str], None] | None = None) -> dict:
    """Run every registered stage (or those in `only`) in order; returns each stage's counts."""
    stages = [s for s in stages_in_order() if only is None or s.name in only]
    report = {}
    for index, stage in enumerate(stages):
        if on_stage:
            on_stage(index, len(stages), stage.name)

        def progress(note: str, _name=stage.name) -> None:
            logger.info("pipeline %s: %s", _name, note)

        report[stage.name] = stage.func(progress=progress)
    return report
