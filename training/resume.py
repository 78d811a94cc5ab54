"""Where a run starts: fresh in an unused directory, or from a complete checkpoint that matches."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from training.config import ConfigError, TrainConfig
from training.contract import latest_checkpoint, read_trainer_state
from training.conventions import RUN_OUTPUTS, STATE_FILE
from training.distributed import DistributedContext, broadcast_object
from training.stages import Stage, checkpoint_position, stage_checkpoints, stage_dir, stage_record

MUST_MATCH = (
    ("dataset_fingerprint", "training data (after tokenization)"),
    ("global_batch_size", "global batch size"),
    ("total_steps", "number of steps"),
    ("deepspeed", "use of DeepSpeed"),
    ("stage", "stage of the plan"),
    ("lora_r", "LoRA rank"),
    ("added_tokens", "list of added tokens"),
)
STATE_DEFAULTS = {"stage": None, "lora_r": 0, "added_tokens": []}
"""Values of the keys a trainer state holds only when they differ from these (so the state of
a plain run reads as before plans, LoRA and added tokens existed)."""
CONTINUED = ("step", "samples_consumed", "first_loss", "health")


@dataclass(frozen=True)
class ResumePoint:
    stage_index: int
    """The first stage to train; len(stages) when every stage is complete."""
    checkpoint: Path | None
    """Where in that stage to continue from; None: its beginning."""


class RunDirectoryInUse(ConfigError):
    """The output directory holds another run's results; they are left untouched."""


def agreed_resume_checkpoint(config: TrainConfig, output: Path, context: DistributedContext) -> Path | None:
    """Rank 0 decides, before anything is written, and tells the others: a rank deciding on its
    own could see files another rank has just started to write."""
    decision = None
    if context.is_main:
        try:
            decision = ("ok", resume_checkpoint(config, output))
        except RunDirectoryInUse as error:
            decision = ("in use", str(error))
        except ConfigError as error:
            decision = ("error", str(error))
    kind, value = broadcast_object(decision, context)
    if kind == "in use":
        raise RunDirectoryInUse(value)
    if kind == "error":
        raise ConfigError(value)
    return value


def resume_checkpoint(config: TrainConfig, output: Path) -> Path | None:
    if config.resume == "no":
        leftovers = [name for name in RUN_OUTPUTS if (output / name).exists()]
        if leftovers:
            raise RunDirectoryInUse(
                f"{output} already holds a run ({', '.join(leftovers)}); "
                "pass --resume to continue it or choose another output"
            )
        return None
    if config.resume == "auto":
        return latest_checkpoint(output)
    path = Path(config.resume)
    if not (path / STATE_FILE).is_file():
        raise ConfigError(f"{path} is not a complete checkpoint (no {STATE_FILE})")
    return path


def agreed_resume_point(
    config: TrainConfig, output: Path, stages: list[Stage], context: DistributedContext
) -> ResumePoint:
    """Where a run (a plan of stages) continues; decided by rank 0 and told to the others."""
    if not stages[0].staged:
        return ResumePoint(0, agreed_resume_checkpoint(config, output, context))
    decision = None
    if context.is_main:
        try:
            decision = ("ok", plan_resume_point(config, output, stages))
        except RunDirectoryInUse as error:
            decision = ("in use", str(error))
        except ConfigError as error:
            decision = ("error", str(error))
    kind, value = broadcast_object(decision, context)
    if kind == "in use":
        raise RunDirectoryInUse(value)
    if kind == "error":
        raise ConfigError(value)
    return value


def plan_resume_point(config: TrainConfig, output: Path, stages: list[Stage]) -> ResumePoint:
    """After the completed stages (those with a stage record), from the latest checkpoint of the
    first incomplete one; or from the checkpoint `resume` names, whose stage must be next."""
    if config.resume == "no":
        resume_checkpoint(config, output)  # refuses a directory that holds a run
        return ResumePoint(0, None)
    completed = 0
    while completed < len(stages) and stage_record(output, stages[completed]) is not None:
        completed += 1
    if config.resume == "auto":
        if completed == len(stages):
            return ResumePoint(completed, None)
        found = stage_checkpoints(output, stages[completed])
        return ResumePoint(completed, found[-1] if found else None)
    path = Path(resume_checkpoint(config, output))
    position = checkpoint_position(path)
    matches = [stage for stage in stages if position and (stage.number, stage.name) == position[:2]]
    if not matches:
        raise ConfigError(
            f"{path} is not a checkpoint of a stage of this plan "
            f"({', '.join(f'stage{s.number}-{s.name}' for s in stages)})"
        )
    stage = matches[0]
    if stage.index > completed:
        raise ConfigError(
            f"cannot resume stage {stage.number} ({stage.name}) from {path}: "
            f"stage {completed + 1} ({stages[completed].name}) has not completed"
        )
    return ResumePoint(stage.index, path)


def forget_later_stages(output: Path, stages: list[Stage], first: int) -> None:
    """Stages from `first` on are trained again: their old records must not mark them complete
    (rank 0 only)."""
    for stage in stages[first:]:
        directory = stage_dir(output, stage)
        if directory.exists():
            shutil.rmtree(directory)


def checked_resume_state(checkpoint: Path, expected: dict) -> dict:
    """The trainer state to continue from; refuses a checkpoint an exact continuation cannot
    come from (other data, another global batch or schedule)."""
    saved = read_trainer_state(checkpoint)
    for key, what in MUST_MATCH:
        then, now = saved.get(key, STATE_DEFAULTS.get(key)), expected.get(key, STATE_DEFAULTS.get(key))
        if then != now:
            raise ConfigError(f"cannot resume from {checkpoint}: the {what} differs ({then!r} then, {now!r} now)")
    if saved["deepspeed"] and saved["world_size"] != expected["world_size"]:
        raise ConfigError(
            f"cannot resume DeepSpeed checkpoint {checkpoint} on {expected['world_size']} processes "
            f"(it was written by {saved['world_size']})"
        )
    return {**expected, **{key: saved[key] for key in CONTINUED if key in saved}}
