"""Optimizer, learning-rate schedule and the DeepSpeed configuration they imply."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import ConfigError, TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW decays matrices only (not norms or biases, whose scale decay would fight);
    SGD is plain SGD for comparisons and tests, with no momentum and no decay."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=0.0, weight_decay=0.0)
    groups = [
        {"params": [p for p in parameters if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0},
    ]
    # LoRA trains matrices only: an empty group would be dropped by DeepSpeed's ZeRO wrapper and
    # leave the scheduler with one learning rate too many.
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr, betas=(0.9, 0.999), eps=1e-8)


def warmup_steps_for(config: TrainConfig, total_steps: int) -> int:
    return math.ceil(config.warmup_ratio * total_steps)


def build_scheduler(optimizer, config: TrainConfig, total_steps: int):
    # Deferred: transformers is slow to import, and only this step needs it.
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

    warmup = warmup_steps_for(config, total_steps)
    if config.lr_scheduler == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
    return get_constant_schedule_with_warmup(optimizer, num_warmup_steps=warmup)


def deepspeed_config(config: TrainConfig, world_size: int, bf16: bool) -> dict[str, Any]:
    """The user's DeepSpeed config with the batch geometry and clipping filled in from ours.

    "auto" or missing values are filled; a value that contradicts the trainer's flags is an error,
    as is an optimizer or scheduler section (the trainer owns both, so that resume and the
    global-batch normalisation stay exact).
    """
    source = config.deepspeed
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"DeepSpeed config {path} does not exist")
        try:
            source = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(f"DeepSpeed config {path} is not valid JSON: {error}") from error
    if not isinstance(source, dict):
        raise ConfigError("deepspeed must be a path to a JSON file or an inline object")
    ds = copy.deepcopy(source)
    for owned in ("optimizer", "scheduler"):
        if owned in ds:
            raise ConfigError(
                f"remove '{owned}' from the DeepSpeed config: the trainer builds its own "
                f"({config.optimizer}, {config.lr_scheduler})"
            )
    stage = ds.get("zero_optimization", {}).get("stage", 0)
    if stage not in (0, 1, 2):
        raise ConfigError(f"DeepSpeed ZeRO stage {stage} is not supported; use stage 0, 1 or 2")
    wanted = {
        "train_micro_batch_size_per_gpu": config.micro_batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "train_batch_size": config.micro_batch_size * config.grad_accum * world_size,
        "gradient_clipping": float(config.max_grad_norm),
    }
    for key, value in wanted.items():
        given = ds.get(key, "auto")
        if given != "auto" and given != value:
            raise ConfigError(f"DeepSpeed config says {key}={given!r} but the trainer's flags give {value!r}")
        ds[key] = value
    if bf16 and "bf16" not in ds and "fp16" not in ds:
        ds["bf16"] = {"enabled": True}
    # DeepSpeed only vouches for its own optimizers under ZeRO; torch's SGD and AdamW are plain
    # per-parameter updates, which is all ZeRO needs.
    ds.setdefault("zero_allow_untested_optimizer", True)
    ds.setdefault("steps_per_print", 10**9)
    ds.setdefault("wall_clock_breakdown", False)
    return ds
