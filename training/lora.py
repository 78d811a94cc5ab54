"""LoRA through peft (`lora_r > 0`): low-rank adapters on the linear layers, the base weights
frozen, so the optimizer holds state for a few million parameters instead of billions.

Nothing else changes: the same forward (padded or packed), the same per-turn loss, the same
global-batch normalisation, the same checkpoints and resume. A checkpoint holds the adapter
(`adapter_model.safetensors`, peft's format) with the optimizer, scheduler and RNG states;
resume rebuilds the base the stage started from, puts the adapter structure on it and loads the
saved adapter weights into it. The final model (and a stage's model) is the adapter merged into
the base weights, saved in plain Hugging Face format: `from_pretrained` loads it without peft.

Tokens the run adds (add_special_tokens) are trained through peft's trainable token rows
(`trainable_token_indices`) on the input embedding and an untied output matrix: only those rows
learn, and merging writes them into the matrices.
"""

from __future__ import annotations

import warnings

from safetensors.torch import load_file
from torch import nn

from training.config import ConfigError, TrainConfig

ADAPTER_FILE = "adapter_model.safetensors"


def _short_name(model: nn.Module, module: nn.Module | None) -> str | None:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name.rsplit(".", 1)[-1]
    return None


def apply_lora(model: nn.Module, config: TrainConfig, trainable_token_ids: tuple[int, ...]) -> nn.Module:
    """The model wrapped with fresh adapters (A random, B zero: the wrapped model starts out
    computing exactly what the base computes)."""
    # Deferred: peft imports transformers, and only LoRA runs need it.
    from peft import LoraConfig, get_peft_model

    token_indices = None
    if trainable_token_ids:
        token_indices = {_short_name(model, model.get_input_embeddings()): list(trainable_token_ids)}
        output = model.get_output_embeddings()
        if output is not None and output.weight is not model.get_input_embeddings().weight:
            token_indices[_short_name(model, output)] = list(trainable_token_ids)
    lora_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        target_modules=list(config.lora_target_modules) or "all-linear",
        lora_dropout=0.0,  # like the rest of the trainer: no dropout (see modeling.disable_dropout)
        bias="none",
        task_type="CAUSAL_LM",
        trainable_token_indices=token_indices,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft asks transformers a deprecated question
        try:
            return get_peft_model(model, lora_config)
        except ValueError as error:  # e.g. target modules the model does not have
            raise ConfigError(f"LoRA cannot be applied: {error}") from error


def is_lora(model: nn.Module) -> bool:
    # Deferred: peft imports transformers, and only LoRA runs need it.
    from peft import PeftModel

    return isinstance(model, PeftModel)


def load_adapter(model: nn.Module, checkpoint) -> None:
    """Adapter weights of a checkpoint into a model wrapped by apply_lora with the same config."""
    # Deferred: peft imports transformers, and only LoRA runs need it.
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, load_file(str(checkpoint / ADAPTER_FILE)))
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"{checkpoint} holds adapter weights this model does not have: {unexpected[:5]}")


def mergeable(model: nn.Module) -> nn.Module:
    """What the final model is saved from: the adapters merged into the base weights (in place:
    call it only when training is over)."""
    if not is_lora(model):
        return model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return model.merge_and_unload()
