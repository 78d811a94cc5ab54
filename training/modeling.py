"""Loading a Hugging Face causal LM for training, and the forward pass for padded or packed rows.

Packing must not let attention cross conversations. On CPU (and on GPU without flash-attn) we
hand the model an explicit (R, 1, T, T) block-diagonal causal mask: transformers uses a 4-D mask
as given, so isolation does not depend on it guessing sequence boundaries. With flash-attn on
CUDA the rows are flattened without padding and the model gets `cu_seq_lens_*` for varlen
attention. Either way the model runs with use_cache=False: a cache object switches
transformers' mask construction away from the packed path and attention leaks.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from torch import nn

from training.collate import PADDING_SEGMENT, MicroBatch, block_diagonal_causal_mask
from training.config import ConfigError
from training.tokenization import check_model_dir, load_tokenizer  # noqa: F401 (the trainer loads both here)


@dataclass
class ForwardOutput:
    logits: torch.Tensor
    """(R, T, V) or (1, N, V) when rows were flattened for varlen attention."""
    labels: torch.Tensor
    """(R, T) or (1, N), aligned with logits, unshifted."""
    turn_ids: torch.Tensor
    """(R, T) or (1, N), aligned with logits."""


def quiet_transformers() -> None:
    """Progress bars and load reports flood the logs the web side tails."""
    # Deferred: transformers is slow to import, and only this step needs it.
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def resolve_attention(requested: str, device: torch.device, bf16: bool) -> str:
    """flash-attn kernels take only half-precision inputs, so they come with bf16 autocast."""
    flash_usable = device.type == "cuda" and bf16 and importlib.util.find_spec("flash_attn") is not None
    if requested == "auto":
        return "flash_attention_2" if flash_usable else "sdpa"
    if requested == "flash_attention_2" and not flash_usable:
        raise ConfigError("attn_implementation=flash_attention_2 needs a CUDA GPU, bf16 and the flash-attn package")
    return requested


def pad_token_id_of(tokenizer) -> int:
    """Padding never carries loss or attention, so any id works when the model defines none."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def load_model(model_dir: str, attn_implementation: str, gradient_checkpointing: bool) -> nn.Module:
    # Deferred: transformers is slow to import, and only this step needs it.
    from transformers import AutoModelForCausalLM

    check_model_dir(model_dir)
    # Master weights stay float32; bf16 comes from autocast (or DeepSpeed) so AdamW updates
    # are not rounded away.
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation=attn_implementation
    )
    model.config.use_cache = False
    disable_dropout(model)
    if gradient_checkpointing:
        # Non-reentrant checkpointing composes with DDP's no_sync and needs no input grads.
        enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5.2x name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model


def disable_dropout(model: nn.Module) -> None:
    """SFT gains nothing from dropout and pays for it in speed and in run-to-run noise."""
    for name in list(vars(model.config)):
        if "dropout" in name and isinstance(getattr(model.config, name), float):
            setattr(model.config, name, 0.0)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0


def forward_for_loss(model: nn.Module, batch: MicroBatch, attn_implementation: str) -> ForwardOutput:
    """Logits of one micro-batch, with the labels and turn ids laid out the same way."""
    if batch.is_empty:
        logits = model(input_ids=batch.input_ids, use_cache=False).logits  # (1, 1, V)
        return ForwardOutput(logits, batch.labels, batch.turn_ids)
    if not batch.packed:
        logits = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask_2d,
            position_ids=batch.position_ids,
            use_cache=False,
        ).logits  # (R, T, V)
        return ForwardOutput(logits, batch.labels, batch.turn_ids)
    if attn_implementation == "flash_attention_2":
        return varlen_forward(model, batch)
    mask = block_diagonal_causal_mask(batch.segment_ids)  # (R, 1, T, T) bool
    if attn_implementation == "eager":
        # Eager attention adds the mask to the scores, so it needs 0 / -inf-like floats.
        dtype = (
            torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else next(model.parameters()).dtype
        )
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    logits = model(
        input_ids=batch.input_ids, attention_mask=mask, position_ids=batch.position_ids, use_cache=False
    ).logits  # (R, T, V)
    return ForwardOutput(logits, batch.labels, batch.turn_ids)


def varlen_forward(model: nn.Module, batch: MicroBatch) -> ForwardOutput:
    """Flash-attn varlen: every conversation laid end to end in one row without padding, with
    cumulative sequence lengths telling the kernel where each one starts."""
    real = batch.segment_ids != PADDING_SEGMENT  # (R, T)
    input_ids = batch.input_ids[real].unsqueeze(0)  # (1, N)
    position_ids = batch.position_ids[real].unsqueeze(0)  # (1, N)
    starts = torch.nonzero(position_ids[0] == 0).flatten()
    cu_seq_lens = torch.cat([starts, torch.tensor([input_ids.shape[1]], device=starts.device)]).to(torch.int32)
    max_length = int((cu_seq_lens[1:] - cu_seq_lens[:-1]).max())
    logits = model(
        input_ids=input_ids,
        position_ids=position_ids,
        use_cache=False,
        cu_seq_lens_q=cu_seq_lens,
        cu_seq_lens_k=cu_seq_lens,
        max_length_q=max_length,
        max_length_k=max_length,
    ).logits  # (1, N, V)
    return ForwardOutput(logits, batch.labels[real].unsqueeze(0), batch.turn_ids[real].unsqueeze(0))
