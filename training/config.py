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
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.conventions import EVAL_FILE, LOSS_MODES, TRAIN_FILE
from training.data import ROLES

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

    stages: list[dict[str, Any]] | None = None
    """A plan trained stage after stage instead of one `data` (JSON on the command line):
    [{"name", "data", "eval_data"?, "epochs"?, "max_steps"?, "lr"?}, ...]. Each stage starts from
    the previous stage's weights with a fresh optimizer and schedule; fields a stage leaves out
    come from the run."""
    add_special_tokens: list[str] = field(default_factory=list)
    """Tokens added to the tokenizer as special tokens (tool-call or reasoning markers). The
    embedding (and an untied output) matrix grows to fit, new rows start at the mean of the
    existing rows, and their loss is reported as a channel of its own."""
    role_map: dict[str, str] = field(default_factory=dict)
    """Roles of the data renamed to roles the template knows, e.g. {"function": "tool"} (JSON on
    the command line); a role neither known nor mapped is an error naming its line."""
    stop_on_alert: bool = False
    """End the run cleanly at the first health alert (rising loss, NaN/inf, gradient-norm spike,
    a first loss far above ln(vocabulary) + 1, a diverging channel), its reason in result.json."""
    alert_window: int = 50
    """Optimizer steps over which the health alerts measure trends and gradient-norm spikes."""
    lora_r: int = 0
    """LoRA rank (peft); 0 trains every weight. The final model is merged and saved in Hugging
    Face format; checkpoints hold the adapter."""
    lora_alpha: float = 16.0
    """LoRA scaling numerator: the adapter's update is scaled by lora_alpha / lora_r."""
    lora_target_modules: list[str] = field(default_factory=list)
    """Module names LoRA adapts (e.g. q_proj v_proj); empty: every linear layer but the output."""


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))


@functools.cache
def field_help() -> dict[str, str]:
    """Each field's docstring (the string under it in the class body), for the command line's
    --help and the run form's labels: the fields are described once, here."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(TrainConfig)))
    body = tree.body[0].body
    helps = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            helps[node.target.id] = " ".join(following.value.value.split())
    return helps


PATH_FIELDS = ("model", "data", "output", "eval_data")
STAGE_PATH_FIELDS = ("data", "eval_data")
STAGE_FIELDS = ("name", "data", "eval_data", "epochs", "max_steps", "lr")
STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
"""Stage names appear in directory names (checkpoints/stage2-general-step-40): no slashes."""
JSON_FIELDS = ("stages", "role_map", "deepspeed")
"""Fields that may arrive as JSON text (from the command line)."""


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
    if isinstance(raw.get("stages"), list):
        raw["stages"] = [
            {
                **stage,
                **{
                    key: str((base / stage[key]).resolve())
                    for key in STAGE_PATH_FIELDS
                    if isinstance(stage.get(key), str) and stage[key]
                },
            }
            if isinstance(stage, dict)
            else stage
            for stage in raw["stages"]
        ]
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
    for name in ("stages", "role_map"):
        if isinstance(known.get(name), str):
            known[name] = json_value(name, known[name])
    if run_dir is not None:
        known.setdefault("output", str(run_dir))
        if not known.get("data") and not known.get("stages"):
            known["data"] = str(run_dir / TRAIN_FILE)
        if not known.get("eval_data") and (run_dir / EVAL_FILE).is_file():
            known["eval_data"] = str(run_dir / EVAL_FILE)
    try:
        config = TrainConfig(**known)
    except TypeError as error:
        raise ConfigError(str(error)) from error
    validate_config(config)
    return config


def json_value(name: str, text: str) -> Any:
    """A field given as JSON text (a command-line flag); ConfigError names the field."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{name} must be JSON ({error.msg} at column {error.colno})") from error


def normalise_resume(value: Any) -> str:
    if value is True:
        return "auto"
    if value in (False, None, ""):
        return "no"
    return str(value)


def validate_config(config: TrainConfig) -> None:
    """Refuse values and combinations that cannot run, naming the field."""
    for name in ("model", "output") if config.stages is not None else ("model", "data", "output"):
        if not getattr(config, name):
            raise ConfigError(f"{name} is required (--{name} or the config file)")
    if config.stages is not None:
        validate_stages(config)
    for name in ("lr", "weight_decay", "warmup_ratio", "max_grad_norm"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, not {value!r}")
    for name in ("packing", "gradient_checkpointing", "stop_on_alert"):
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
    for name in ("micro_batch_size", "grad_accum", "epochs", "log_every", "keep_checkpoints", "alert_window"):
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
    validate_tokens_and_roles(config)
    validate_lora(config)


def validate_stages(config: TrainConfig) -> None:
    stages = config.stages
    if config.data:
        raise ConfigError("give the training data either as data or per stage in stages, not both")
    if not isinstance(stages, list) or not stages:
        raise ConfigError("stages must be a non-empty list of {name, data, ...} objects")
    names = set()
    for number, stage in enumerate(stages, start=1):
        where = f"stage {number}"
        if not isinstance(stage, dict):
            raise ConfigError(f"{where} must be an object with name and data, not {stage!r}")
        unknown = sorted(set(stage) - set(STAGE_FIELDS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown field(s) {', '.join(unknown)}; a stage may set {', '.join(STAGE_FIELDS)}"
            )
        name = stage.get("name")
        if not isinstance(name, str) or not STAGE_NAME.match(name):
            raise ConfigError(
                f"{where}: name must be 1-40 letters, digits, '_', '.' or '-' (it names directories), not {name!r}"
            )
        if name in names:
            raise ConfigError(f"{where}: the name {name!r} is used by an earlier stage")
        names.add(name)
        where = f"stage {number} ({name})"
        if not isinstance(stage.get("data"), str) or not stage["data"]:
            raise ConfigError(f"{where}: data (a JSONL file) is required")
        if stage.get("eval_data") is not None and not isinstance(stage["eval_data"], str):
            raise ConfigError(f"{where}: eval_data must be a path")
        epochs = stage.get("epochs", 1)
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ConfigError(f"{where}: epochs must be a positive integer, not {epochs!r}")
        steps = stage.get("max_steps")
        if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
            raise ConfigError(f"{where}: max_steps must be a positive integer, not {steps!r}")
        lr = stage.get("lr", 1.0)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ConfigError(f"{where}: lr must be a positive number, not {lr!r}")


def validate_tokens_and_roles(config: TrainConfig) -> None:
    tokens = config.add_special_tokens
    if not isinstance(tokens, list) or not all(isinstance(token, str) and token.strip() for token in tokens):
        raise ConfigError(f"add_special_tokens must be a list of non-empty strings, not {tokens!r}")
    if len(set(tokens)) != len(tokens):
        raise ConfigError("add_special_tokens lists a token twice")
    role_map = config.role_map
    if not isinstance(role_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in role_map.items()
    ):
        raise ConfigError(f"role_map must map role names to role names, not {role_map!r}")
    for role, target in role_map.items():
        if target not in ROLES:
            raise ConfigError(f"role_map maps {role!r} to {target!r}; it must map to one of {', '.join(ROLES)}")


def validate_lora(config: TrainConfig) -> None:
    if not isinstance(config.lora_r, int) or isinstance(config.lora_r, bool) or config.lora_r < 0:
        raise ConfigError(f"lora_r must be a non-negative integer, not {config.lora_r!r}")
    if (
        isinstance(config.lora_alpha, bool)
        or not isinstance(config.lora_alpha, (int, float))
        or not config.lora_alpha > 0
    ):
        raise ConfigError(f"lora_alpha must be a positive number, not {config.lora_alpha!r}")
    modules = config.lora_target_modules
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise ConfigError(f"lora_target_modules must be a list of module names, not {modules!r}")
    if modules and not config.lora_r:
        raise ConfigError("lora_target_modules is set but lora_r is 0 (LoRA is off)")


def config_as_dict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
