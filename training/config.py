"""The trainer's configuration: one dataclass, read from config.json and/or command-line flags.

The web side writes `RUN_DIR/config.json` with these field names; relative paths in it are
relative to the file's directory, and missing paths default to the run directory's
`train.jsonl`, `eval.jsonl` (when present) and the directory itself as output.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.conventions import EVAL_FILE, LOSS_MODES, TRAIN_FILE

SUPERVISE_MODES = ("all", "last", "flagged")
OPTIMIZERS = ("adamw", "sgd")
LR_SCHEDULERS = ("cosine", "constant")
ATTENTION_IMPLEMENTATIONS = ("auto", "sdpa", "eager", "flash_attention_2")


class ConfigError(ValueError):
    """A configuration the trainer refuses to run, with the reason in the message."""


@dataclass
class TrainConfig:
    """Everything one SFT run needs. Field names are the keys of config.json."""

    model: str = ""
    """Directory of a Hugging Face causal LM with its tokenizer and chat template."""
    data: str = ""
    """Training conversations, JSONL (one `{"messages": [...]}` object a line)."""
    output: str = ""
    """Run directory for metrics.jsonl, checkpoints/, final/ and result.json."""
    eval_data: str | None = None
    """Optional evaluation conversations in the same format; evaluated with the per-turn loss."""

    micro_batch_size: int = 4
    """Conversations per forward pass on one process (packed into rows when packing is on)."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step. Global batch = micro_batch_size *
    grad_accum * data-parallel processes conversations."""
    packing: bool = False
    """Pack each micro-batch's conversations into max_len rows (first-fit decreasing) instead of
    padding them; attention never crosses conversations. Off by default: it is a throughput option."""
    max_len: int = 2048
    """Longest row in tokens. Longer conversations are truncated; a turn cut by the truncation is
    dropped whole and counted in result.json, never half-supervised."""

    optimizer: str = "adamw"
    """'adamw' (torch's AdamW) or 'sgd' (plain SGD, no momentum)."""
    lr: float = 2e-5
    """Peak learning rate."""
    weight_decay: float = 0.01
    """Decoupled weight decay of AdamW (ignored by SGD)."""
    lr_scheduler: str = "cosine"
    """'cosine' (decay to 0) or 'constant', both after a linear warmup."""
    warmup_ratio: float = 0.05
    """Fraction of the optimizer steps spent warming the learning rate up from 0."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this; 0 turns clipping off."""
    epochs: int = 1
    """Passes over the training data (ignored when max_steps is set)."""
    max_steps: int | None = None
    """Optimizer steps to run; overrides epochs and cycles through the data as needed."""

    loss: str = "per_turn"
    """'per_turn' (the loss we train on), 'per_token' or 'naive' (for comparison only)."""
    supervise: str = "all"
    """Which assistant turns carry loss: 'all', 'last', or 'flagged' (each assistant message's
    `train` flag, true when absent)."""

    seed: int = 42
    """Seed of the data order, of the RNGs, and of nothing else (there is no dropout)."""
    resume: str = "no"
    """'no' (refuse a run directory that already has results), 'auto' (continue from the latest
    complete checkpoint if there is one, else start) or the path of a checkpoint directory."""
    save_every: int = 0
    """Write a checkpoint every this many optimizer steps; 0 writes none before the end."""
    keep_checkpoints: int = 2
    """How many of the newest checkpoints to keep; older ones are deleted after each save."""
    log_every: int = 1
    """Write a metrics.jsonl line every this many optimizer steps (and always at the last one)."""
    eval_every: int = 0
    """Evaluate every this many steps when eval data exists; 0 evaluates only at the end."""

    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory."""
    bf16: bool | None = None
    """bfloat16 autocast; None means on exactly when a CUDA GPU supports it."""
    attn_implementation: str = "auto"
    """'auto' picks flash_attention_2 on CUDA when flash-attn is installed, else sdpa."""
    deepspeed: str | dict[str, Any] | None = None
    """DeepSpeed config (path or inline dict) to train with ZeRO stage 0-2 instead of DDP."""


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))


@functools.cache
def field_help() -> dict[str, str]:
    """Each field's docstring (the string under it in the class body), for the command line's
    --help and the run form's labels: the fields are described once, here."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(TrainConfig)))
    body = tree.body[0].body
    helps = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
            helps[node.target.id] = " ".join(following.value.value.split())
    return helps
PATH_FIELDS = ("model", "data", "output", "eval_data")


def config_from_file(path: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """Read config.json into a dict with paths made absolute, and return its directory."""
    config_path = Path(path).resolve()
    if not config_path.is_file():
        raise ConfigError(f"config file {config_path} does not exist")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {config_path} is not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {config_path} must hold a JSON object")
    base = config_path.parent
    for key in PATH_FIELDS:
        if isinstance(raw.get(key), str) and raw[key]:
            raw[key] = str((base / raw[key]).resolve())
    if isinstance(raw.get("deepspeed"), str):
        raw["deepspeed"] = str((base / raw["deepspeed"]).resolve())
    return raw, base


def build_config(values: dict[str, Any], run_dir: Path | None = None) -> TrainConfig:
    """A validated TrainConfig from merged values; run_dir supplies the contract's defaults."""
    unknown = sorted(set(values) - set(FIELD_NAMES))
    if unknown:
        # A misspelt key silently falling back to a default would train something else.
        raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; known fields: {', '.join(FIELD_NAMES)}")
    known = dict(values)
    if "resume" in known:
        known["resume"] = normalise_resume(known["resume"])
    if run_dir is not None:
        known.setdefault("output", str(run_dir))
        if not known.get("data"):
            known["data"] = str(run_dir / TRAIN_FILE)
        if not known.get("eval_data") and (run_dir / EVAL_FILE).is_file():
            known["eval_data"] = str(run_dir / EVAL_FILE)
    try:
        config = TrainConfig(**known)
    except TypeError as error:
        raise ConfigError(str(error)) from error
    validate_config(config)
    return config


def normalise_resume(value: Any) -> str:
    if value is True:
        return "auto"
    if value in (False, None, ""):
        return "no"
    return str(value)


def validate_config(config: TrainConfig) -> None:
    """Refuse values and combinations that cannot run, naming the field."""
    for name in ("model", "data", "output"):
        if not getattr(config, name):
            raise ConfigError(f"{name} is required (--{name} or the config file)")
    for name in ("lr", "weight_decay", "warmup_ratio", "max_grad_norm"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, not {value!r}")
    for name in ("packing", "gradient_checkpointing"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"{name} must be true or false, not {getattr(config, name)!r}")
    choices = {
        "loss": LOSS_MODES,
        "supervise": SUPERVISE_MODES,
        "optimizer": OPTIMIZERS,
        "lr_scheduler": LR_SCHEDULERS,
        "attn_implementation": ATTENTION_IMPLEMENTATIONS,
    }
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {getattr(config, name)!r}")
    for name in ("micro_batch_size", "grad_accum", "epochs", "log_every", "keep_checkpoints"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    for name in ("save_every", "eval_every"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{name} must be a non-negative integer, not {value!r}")
    if config.max_steps is not None and (not isinstance(config.max_steps, int) or config.max_steps < 1):
        raise ConfigError(f"max_steps must be a positive integer, not {config.max_steps!r}")
    if not isinstance(config.max_len, int) or config.max_len < 2:
        raise ConfigError(f"max_len must be an integer of at least 2, not {config.max_len!r}")
    if not config.lr > 0:
        raise ConfigError(f"lr must be positive, not {config.lr!r}")
    if not 0 <= config.warmup_ratio < 1:
        raise ConfigError(f"warmup_ratio must be in [0, 1), not {config.warmup_ratio!r}")
    if config.weight_decay < 0 or config.max_grad_norm < 0:
        raise ConfigError("weight_decay and max_grad_norm must not be negative")
    if config.bf16 not in (None, True, False):
        raise ConfigError(f"bf16 must be true, false or null, not {config.bf16!r}")
    if config.resume not in ("no", "auto") and not Path(config.resume).is_dir():
        raise ConfigError(f"resume must be 'no', 'auto' or an existing checkpoint directory, not {config.resume!r}")


def config_as_dict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
