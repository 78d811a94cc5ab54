"""What a run prepares before its loop: the tokenized data of every stage, and each stage's model
(from the base, from the previous stage's model, or from a checkpoint; with added tokens and
LoRA adapters as configured)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from training.config import ConfigError, TrainConfig
from training.data import read_conversations
from training.lora import apply_lora, load_adapter
from training.modeling import load_model
from training.special_tokens import AddedTokens, resize_and_initialise
from training.stages import Stage, stage_dir
from training.tokenization import TokenizationReport, TokenizedConversation, dataset_fingerprint, tokenize_conversations


@dataclass
class PreparedData:
    train: list[TokenizedConversation]
    train_report: TokenizationReport
    eval: list[TokenizedConversation]
    eval_report: TokenizationReport | None
    channels: list[str]
    """Sorted task_types of every stage's train and eval data: the same channel index on every
    rank and in every stage."""
    fingerprint: str
    special_token_ids: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    """(K,) the run's added tokens, reported as a channel of their own."""

    @property
    def channel_index(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.channels)}


def prepare_data(config: TrainConfig, tokenizer, eval_cache: dict | None = None) -> PreparedData:
    """One stage's conversations, tokenized; `eval_cache` shares eval files several stages use."""
    train_conversations, train_report = tokenize_conversations(
        tokenizer, read_conversations(config.data, config.supervise, config.role_map), config.max_len
    )
    if not train_conversations:
        raise ConfigError(f"no conversation of {config.data} fits max_len={config.max_len} with a supervised turn")
    eval_conversations, eval_report = [], None
    if config.eval_data:
        cache = eval_cache if eval_cache is not None else {}
        if config.eval_data not in cache:
            cache[config.eval_data] = tokenize_conversations(
                tokenizer, read_conversations(config.eval_data, config.supervise, config.role_map), config.max_len
            )
        eval_conversations, eval_report = cache[config.eval_data]
    channels = sorted({c.task_type for c in train_conversations + eval_conversations})
    return PreparedData(
        train_conversations,
        train_report,
        eval_conversations,
        eval_report,
        channels,
        dataset_fingerprint(train_conversations),
    )


def prepare_stages(stages: list[Stage], tokenizer, added: AddedTokens) -> list[PreparedData]:
    """Every stage's data, tokenized before the first step: a bad line in the last stage's file
    stops the run before hours are spent on the first."""
    eval_cache: dict = {}
    prepared = [prepare_data(stage.config, tokenizer, eval_cache) for stage in stages]
    channels = sorted(set().union(*(data.channels for data in prepared)))
    special_ids = torch.tensor(added.ids, dtype=torch.long)
    for data in prepared:
        data.channels = channels
        data.special_token_ids = special_ids
    return prepared


def start_weights(output: Path, stages: list[Stage], stage: Stage) -> str:
    """The base model for stage 1, the previous stage's model after that."""
    if stage.index == 0:
        return stage.config.model
    return str(stage_dir(output, stages[stage.index - 1]))


def build_model(
    *,
    stage: Stage,
    start: str,
    checkpoint: Path | None,
    added: AddedTokens,
    tokenizer_size: int,
    attention: str,
    device: torch.device,
) -> nn.Module:
    """The model a stage trains: from a checkpoint when resuming, else from its start weights.

    Added tokens are initialised only on the base model (stage 1 from scratch): a checkpoint or
    an earlier stage's model has trained them already. Under LoRA the checkpoint holds only the
    adapter, so the start weights are rebuilt the same way and the adapter loaded onto them."""
    config = stage.config
    if checkpoint is not None and not config.lora_r:
        model = load_model(str(checkpoint), attention, config.gradient_checkpointing)
    else:
        model = load_model(start, attention, config.gradient_checkpointing)
        if stage.index == 0:
            resize_and_initialise(model, added, tokenizer_size)
    if model.get_input_embeddings().weight.shape[0] < tokenizer_size:
        raise ConfigError(
            f"the model has {model.get_input_embeddings().weight.shape[0]} embedding rows but the "
            f"tokenizer {tokenizer_size} tokens"
        )
    if config.lora_r:
        model = apply_lora(model, config, added.ids)
        if checkpoint is not None:
            load_adapter(model, checkpoint)
    return model.to(device)


def vocabulary_size(model: nn.Module) -> int:
    """Rows of the output matrix: the number of classes the loss chooses among."""
    return int(model.get_output_embeddings().weight.shape[0])
