"""A run's plan of stages, and where each stage's files go. Torch-free: the web side reads the
same names through `training.contract`.

A config without `stages` is a plan of one unnamed stage, laid out exactly as before plans
existed (`checkpoints/step-N/`, `final/`, no `stage` field anywhere). A config with stages
trains them in order, each from the previous stage's weights:

    RUN_DIR/checkpoints/stage2-general-step-40/   stage 2 ("general"), its own step 40
    RUN_DIR/stages/1-code/                          stage 1's final model + stage.json
    RUN_DIR/stages/2-general/stage.json             the last stage's record; its model is final/
    RUN_DIR/final/                                  the last stage's model

`stage.json` is written last into a stage's directory, which is published by rename: a stage
with that file is complete, and `--resume` starts after it.

Why a fresh optimizer and schedule per stage: AdamW's moments are running statistics of the
previous stage's gradients, on another data distribution, and would push the first steps of
the new stage along the old direction; a schedule that decayed to zero at the end of a stage
would leave the next one no learning rate. Each stage warms up again and re-estimates its
moments, so a stage is exactly an ordinary SFT run started from the previous stage's model
(which is how sequential and DMT recipes are defined), and it resumes like one.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config import TrainConfig
from training.conventions import CHECKPOINTS_DIR, STAGE_FILE, STAGES_DIR

CHECKPOINT_NAME = re.compile(r"^(?:stage(?P<number>\d+)-(?P<stage>.+)-)?step-(?P<step>\d+)$")
"""`step-N` (a run without stages) or `stage<number>-<name>-step-N` (N counts the stage's steps)."""


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None
    """None: the run has no plan (one stage, the layout of a run without stages)."""
    config: TrainConfig
    """The run's config with this stage's data, eval data, epochs, steps and learning rate."""

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def staged(self) -> bool:
        return self.name is not None

    @property
    def seed(self) -> int:
        """Stage 1 keeps the run's seed, so a one-stage plan orders its data like a plain run."""
        return self.config.seed + self.index

    @property
    def label(self) -> str:
        return f"{self.number}-{self.name}"


def plan_stages(config: TrainConfig) -> list[Stage]:
    if config.stages is None:
        return [Stage(0, None, config)]
    stages = []
    for index, spec in enumerate(config.stages):
        overrides: dict[str, Any] = {"data": spec["data"], "stages": None}
        if spec.get("eval_data"):
            overrides["eval_data"] = spec["eval_data"]
        if "epochs" in spec or "max_steps" in spec:
            # A stage that says how long it trains says it fully: its epochs do not lose to the run's max_steps.
            overrides["epochs"] = spec.get("epochs", 1)
            overrides["max_steps"] = spec.get("max_steps")
        if "lr" in spec:
            overrides["lr"] = float(spec["lr"])
        stages.append(Stage(index, spec["name"], dataclasses.replace(config, **overrides)))
    return stages


def checkpoint_name(step: int, stage: Stage | None = None) -> str:
    if stage is None or not stage.staged:
        return f"step-{step}"
    return f"stage{stage.number}-{stage.name}-step-{step}"


def checkpoint_position(path: Path) -> tuple[int, str, int] | None:
    """(stage number, stage name, step) of a checkpoint directory's name; stage 0 and "" for a
    run without stages; None when the name is not a checkpoint's."""
    match = CHECKPOINT_NAME.match(Path(path).name)
    if match is None:
        return None
    return int(match.group("number") or 0), match.group("stage") or "", int(match.group("step"))


def stage_dir(output: Path, stage: Stage) -> Path:
    return Path(output) / STAGES_DIR / stage.label


def stage_record(output: Path, stage: Stage) -> dict | None:
    """The record a completed stage left, or None."""
    path = stage_dir(output, stage) / STAGE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def stage_checkpoints(output: Path, stage: Stage) -> list[Path]:
    """Complete checkpoints of this stage, oldest first."""
    # Here, not at the top: training.contract imports this module (an import cycle).
    from training.contract import complete_checkpoints

    found = []
    for path in complete_checkpoints(output):
        number, name, _ = checkpoint_position(path)
        if (stage.staged and (number, name) == (stage.number, stage.name)) or (not stage.staged and number == 0):
            found.append(path)
    return found


__all__ = [
    "CHECKPOINT_NAME",
    "CHECKPOINTS_DIR",
    "Stage",
    "checkpoint_name",
    "checkpoint_position",
    "plan_stages",
    "stage_checkpoints",
    "stage_dir",
    "stage_record",
]
