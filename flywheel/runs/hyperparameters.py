"""The run form's settings: each with the seed's default and why it is the default.

Values are checked by the trainer's own validation (`training.contract.build_config`), so the
form refuses exactly what the trainer would refuse, before a GPU is tied up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_noop

from training.contract import LOSS_MODES, ConfigError, build_config

SMALL_VERTICAL_SET = 10_000


@dataclass(frozen=True)
class Setting:
    name: str
    label: str
    default: Any
    help: str
    type: str = "float"  # int, float, bool, choice
    choices: tuple[tuple[str, str], ...] = ()


LOSS_EXPLAINED = (
    ("per_turn", "per turn — each answer counts once, however long (the loss we train on)"),
    ("per_token", "per token — long answers weigh more (for comparison)"),
    ("naive", "mean of micro-batch means — what most trainers do (for comparison)"),
)
assert {name for name, _ in LOSS_EXPLAINED} == set(LOSS_MODES)

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "epochs",
        "Epochs",
        1,
        "1 pass over the data; 3 for a small vertical set (under 10,000 conversations), "
        "where one pass is too little to learn the domain.",
        "int",
    ),
    Setting(
        "max_steps", "Max steps", None, "Optional: stop after this many optimizer steps (overrides epochs).", "int"
    ),
    Setting(
        "lr",
        "Learning rate",
        2e-5,
        "Peak learning rate; 1e-5 to 3e-5 for full fine-tuning of a chat model "
        "(lower for larger models). A tiny test model needs far more, e.g. 3e-3.",
    ),
    Setting(
        "lr_scheduler",
        "Schedule",
        "cosine",
        "Cosine decay to zero after the warmup.",
        "choice",
        (("cosine", "cosine"), ("constant", "constant")),
    ),
    Setting(
        "warmup_ratio", "Warmup share", 0.05, "Share of the steps spent warming the learning rate up from 0: 5-10%."
    ),
    Setting("weight_decay", "Weight decay", 0.01, "AdamW's decoupled weight decay (matrices only)."),
    Setting(
        "micro_batch_size",
        "Micro-batch",
        1,
        "Conversations per forward pass per GPU. 1 keeps memory flat with long conversations; raise it for short ones.",
        "int",
    ),
    Setting(
        "grad_accum",
        "Gradient accumulation",
        8,
        "Micro-batches per optimizer step: the global batch is micro-batch × "
        "accumulation × GPUs conversations. The loss does not depend on how it is cut.",
        "int",
    ),
    Setting(
        "max_len",
        "Max length",
        4096,
        "Longest row in tokens. A turn cut by it is dropped whole, never half-trained; "
        "compare with the dataset's p99 length.",
        "int",
    ),
    Setting(
        "loss", "Loss", "per_turn", "How token losses are averaged over the global batch.", "choice", LOSS_EXPLAINED
    ),
    Setting(
        "packing",
        "Packing",
        False,
        "Padding (off) is the default: packing dilutes the gradient of short samples. Pack only for throughput.",
        "bool",
    ),
    Setting("max_grad_norm", "Gradient clipping", 1.0, "Clip the global gradient norm to this; 0 turns clipping off."),
    Setting(
        "save_every",
        "Checkpoint every",
        50,
        "Steps between checkpoints. A run whose worker dies, or that is cancelled, resumes from the latest one.",
        "int",
    ),
    Setting("keep_checkpoints", "Checkpoints kept", 2, "Newest checkpoints kept on disk.", "int"),
    Setting(
        "eval_every", "Evaluate every", 0, "Steps between evaluations on the eval split; 0: only at the end.", "int"
    ),
    Setting("seed", "Seed", 42, "Seeds the data order and every random number.", "int"),
    Setting(
        "gradient_checkpointing",
        "Gradient checkpointing",
        False,
        "Recompute activations in the backward pass: less memory, about a third slower.",
        "bool",
    ),
    Setting(
        "stop_on_alert",
        "Stop on a health alert",
        False,
        "End the run at the first health alert (a loss that keeps "
        "rising, NaN, a gradient-norm spike, a first loss above a uniform guess, a diverging task type): those mean a "
        "bug in the training setup, not hard data. Alerts show on the run page either way.",
        "bool",
    ),
    Setting(
        "lora_r",
        "LoRA rank",
        0,
        "0 trains every weight. 8-64 trains low-rank adapters instead (peft), so a 7B "
        "model fits one GPU; the final model is merged into plain weights.",
        "int",
    ),
    Setting(
        "lora_alpha",
        "LoRA alpha",
        16.0,
        "Adapter scaling numerator (the update is scaled by alpha / rank); twice the rank is usual.",
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

DISTRIBUTED = (
    ("auto", gettext_noop("automatic — DeepSpeed ZeRO-2 when several GPUs are present, one process otherwise")),
    ("ddp", gettext_noop("data parallel (torchrun, DDP) on every GPU")),
    ("zero2", gettext_noop("DeepSpeed ZeRO-2 on every GPU (optimizer state and gradients sharded)")),
)


def suggested_epochs(train_conversations: int) -> int:
    return 3 if train_conversations < SMALL_VERTICAL_SET else 1


def defaults(*, train_conversations: int | None = None) -> dict[str, Any]:
    values = {s.name: s.default for s in SETTINGS}
    if train_conversations is not None:
        values["epochs"] = suggested_epochs(train_conversations)
    return values


def hyperparameters_clean(values: dict[str, Any]) -> dict[str, Any]:
    """Only known settings, typed, checked by the trainer's own rules; ValueError names the field."""
    unknown = sorted(set(values) - set(SETTINGS_BY_NAME))
    if unknown:
        raise ValueError(f"unknown training setting(s): {', '.join(unknown)}")
    clean = {}
    for name, value in values.items():
        setting = SETTINGS_BY_NAME[name]
        if value in (None, "") and setting.default is None:
            continue
        try:
            clean[name] = _typed(setting, value)
        except (TypeError, ValueError):
            raise ValueError(f"{setting.label}: {value!r} is not a valid {setting.type}") from None
    try:
        build_config({**clean, "model": "model", "data": "train.jsonl", "output": "run"})
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    return clean


def _typed(setting: Setting, value: Any) -> Any:
    if setting.type == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if setting.type == "float":
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if setting.type == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "on", "yes", "0", "false", "off", "no", ""):
            return str(value).lower() in ("1", "true", "on", "yes")
        raise ValueError
    if str(value) not in {name for name, _ in setting.choices}:
        raise ValueError
    return str(value)
