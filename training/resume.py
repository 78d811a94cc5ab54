"""Where a run starts: fresh in an unused directory, or from a complete checkpoint that matches."""

from __future__ import annotations

from pathlib import Path

from training.config import ConfigError, TrainConfig
from training.contract import latest_checkpoint, read_trainer_state
from training.conventions import RUN_OUTPUTS, STATE_FILE
from training.distributed import DistributedContext, broadcast_object

MUST_MATCH = (
    ("dataset_fingerprint", "training data (after tokenization)"),
    ("global_batch_size", "global batch size"),
    ("total_steps", "number of steps"),
    ("deepspeed", "use of DeepSpeed"),
)


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


def checked_resume_state(checkpoint: Path, expected: dict) -> dict:
    """The trainer state to continue from; refuses a checkpoint an exact continuation cannot
    come from (other data, another global batch or schedule)."""
    saved = read_trainer_state(checkpoint)
    for key, what in MUST_MATCH:
        if saved.get(key) != expected[key]:
            raise ConfigError(
                f"cannot resume from {checkpoint}: the {what} differs ({saved.get(key)!r} then, {expected[key]!r} now)"
            )
    if saved["deepspeed"] and saved["world_size"] != expected["world_size"]:
        raise ConfigError(
            f"cannot resume DeepSpeed checkpoint {checkpoint} on {expected['world_size']} processes "
            f"(it was written by {saved['world_size']})"
        )
    return {**expected, **{key: saved[key] for key in ("step", "samples_consumed", "first_loss")}}
