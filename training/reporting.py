"""What a step or an evaluation reports: local sums, all-reduced once, turned into log records.

The sums of a step are one float64 vector per rank, so a single all-reduce carries them all:
[loss numerator, real tokens, padding tokens, turns, supervised tokens,
 added-token loss sum, added-token positions,
 channel loss sums (one per channel), channel turn weights (one per channel)].

The added tokens (add_special_tokens) are reported as a channel of their own,
SPECIAL_TOKENS_CHANNEL: the mean loss of the supervised positions that predict one of them.
"""

from __future__ import annotations

import torch

from training.collate import MicroBatch
from training.conventions import NO_TURN, SPECIAL_TOKENS_CHANNEL
from training.loss import MicroBatchLoss
from training.metrics import json_number

LOSS, REAL_TOKENS, PADDING_TOKENS, TURNS, SUPERVISED_TOKENS, SPECIAL_LOSS, SPECIAL_POSITIONS = range(7)
CHANNELS_START = 7


def empty_sums(num_channels: int) -> torch.Tensor:
    return torch.zeros(CHANNELS_START + 2 * num_channels, dtype=torch.float64)


def micro_batch_sums(
    batch: MicroBatch, contribution: MicroBatchLoss, num_channels: int, special_token_ids: torch.Tensor | None = None
) -> torch.Tensor:
    """One micro-batch's share of the sums; special_token_ids: (K,) the added tokens, if any."""
    turn_means = contribution.turn_means.to("cpu", torch.float64)
    weights = batch.turn_weights.to("cpu", torch.float64)
    channels = batch.turn_channels.to("cpu")
    sums = empty_sums(num_channels)
    sums[LOSS] = float(contribution.numerator.detach())
    sums[REAL_TOKENS] = batch.real_tokens
    sums[PADDING_TOKENS] = batch.padding_tokens
    sums[TURNS] = len(weights)
    sums[SUPERVISED_TOKENS] = int((batch.turn_ids != NO_TURN).sum())
    channel_losses_view = sums[CHANNELS_START : CHANNELS_START + num_channels]
    channel_losses_view.index_add_(0, channels, weights * turn_means)
    sums[CHANNELS_START + num_channels :].index_add_(0, channels, weights)
    if special_token_ids is not None and len(special_token_ids):
        targets = contribution.token_targets
        predicts_added = torch.isin(targets, special_token_ids.to(targets.device))  # (N,)
        sums[SPECIAL_LOSS] = float(contribution.token_losses[predicts_added].sum())
        sums[SPECIAL_POSITIONS] = int(predicts_added.sum())
    return sums


def turn_weight_total(totals: torch.Tensor, num_channels: int) -> float:
    """Every turn is in exactly one channel, so the channel weights add up to the turn weight."""
    return float(totals[CHANNELS_START + num_channels : CHANNELS_START + 2 * num_channels].sum())


def channel_losses(totals: torch.Tensor, channels: list[str]) -> dict[str, float]:
    """{task_type: per-turn loss} for the channels that had turns."""
    num_channels = len(channels)
    loss_sums = totals[CHANNELS_START : CHANNELS_START + num_channels]
    weights = totals[CHANNELS_START + num_channels : CHANNELS_START + 2 * num_channels]
    losses = {name: float(loss_sums[i] / weights[i]) for i, name in enumerate(channels) if weights[i] > 0}
    if totals[SPECIAL_POSITIONS] > 0:
        losses[SPECIAL_TOKENS_CHANNEL] = float(totals[SPECIAL_LOSS] / totals[SPECIAL_POSITIONS])
    return losses


def train_record(
    *,
    step: int,
    loss: float,
    lr: float,
    totals: torch.Tensor,
    channels: list[str],
    step_time: float,
    grad_norm,
    samples_consumed: int,
    num_conversations: int,
) -> dict:
    real_tokens, padding_tokens = float(totals[REAL_TOKENS]), float(totals[PADDING_TOKENS])
    return {
        "kind": "train",
        "step": step,
        "loss": json_number(loss),
        "lr": lr,
        "tokens_per_s": real_tokens / step_time,
        "padding_ratio": padding_tokens / max(real_tokens + padding_tokens, 1.0),
        "channels": channel_losses(totals, channels),
        "epoch": samples_consumed / num_conversations,
        "samples_consumed": samples_consumed,
        "grad_norm": json_number(float(grad_norm)) if grad_norm is not None else None,
        "turns": int(totals[TURNS]),
        "supervised_tokens": int(totals[SUPERVISED_TOKENS]),
        "tokens": int(real_tokens),
        "step_time_s": step_time,
    }
