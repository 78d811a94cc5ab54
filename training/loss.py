"""The multi-turn SFT loss (DESIGN.md, "The multi-turn SFT loss").

For one optimizer step over the global batch G:

    loss(G) = ( sum over supervised turns t in G of  w_t * mean_{token j in t} -log p(token_j | prefix) )
              / ( sum over turns t in G of w_t )

w_t is the conversation's `weight` (1 unless the data says otherwise), so with unit weights the
denominator is the turn count of G. Every micro-batch contributes only its numerator; the
denominator is counted from the data of the whole global batch (all accumulation steps, all ranks)
before the step. That is what makes the loss and its gradient independent of how G is cut up.

`per_token` and `naive` exist only to compare against what other trainers do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training.conventions import IGNORE_INDEX, LOSS_MODES, NO_TURN  # noqa: F401 (the loss's own vocabulary)


@dataclass
class MicroBatchLoss:
    """What one micro-batch contributes to the loss of its global batch."""

    numerator: torch.Tensor
    """Scalar with autograd: the micro-batch's share before division by the global denominator."""
    turn_means: torch.Tensor
    """(n_turns,) detached mean token loss of every turn, for per-channel reporting."""
    token_losses: torch.Tensor
    """(N,) detached loss of every supervised position, for token-level reporting."""
    token_targets: torch.Tensor
    """(N,) the token each supervised position predicts."""


def shift_for_next_token_prediction(
    logits: torch.Tensor | None, labels: torch.Tensor, turn_ids: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """The one place where labels are shifted.

    Labels arrive unshifted, Hugging Face style: labels[i] is the token at position i, and the
    logits at position i - 1 predict it. Dropping the last logit and the first label lines them
    up. In a packed row the first token of each conversation is never a target (its label is
    IGNORE_INDEX), so a prediction across a conversation boundary never carries loss.
    """
    predicting_logits = None if logits is None else logits[:, :-1, :]  # (B, T-1, V)
    return predicting_logits, labels[:, 1:], turn_ids[:, 1:]  # (B, T-1) each


def supervised_token_losses(
    logits: torch.Tensor, labels: torch.Tensor, turn_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-entropy of every supervised position, the turn it belongs to, and its target.

    logits (B, T, V), labels (B, T) and turn_ids (B, T) are unshifted. Returns (N,) float32
    token losses, (N,) turn ids and (N,) target token ids for the N supervised positions.
    """
    logits, labels, turn_ids = shift_for_next_token_prediction(logits, labels, turn_ids)
    supervised = labels != IGNORE_INDEX  # (B, T-1)
    if bool((turn_ids[supervised] == NO_TURN).any()):
        raise ValueError("every supervised label needs a turn id (found one with NO_TURN)")
    # Select before upcasting: only supervised positions pay for the float32 copy of the vocab.
    token_logits = logits[supervised]  # (N, V)
    token_logits = token_logits.to(torch.promote_types(token_logits.dtype, torch.float32))
    targets = labels[supervised]  # (N,)
    token_losses = F.cross_entropy(token_logits, targets, reduction="none")  # (N,)
    return token_losses, turn_ids[supervised], targets


def turn_means_from_token_losses(
    token_losses: torch.Tensor, token_turn_ids: torch.Tensor, num_turns: int
) -> torch.Tensor:
    """(num_turns,) mean loss of each turn; a turn without tokens gets 0 (it cannot happen
    for data built by training.tokenize, but hand-built inputs may contain one)."""
    turn_sums = token_losses.new_zeros(num_turns).index_add(0, token_turn_ids, token_losses)
    turn_sizes = torch.bincount(token_turn_ids, minlength=num_turns).to(token_losses.dtype)
    return turn_sums / turn_sizes.clamp(min=1)


def micro_batch_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    turn_ids: torch.Tensor,
    turn_weights: torch.Tensor,
    mode: str = "per_turn",
) -> MicroBatchLoss:
    """The numerator one micro-batch adds to its global batch's loss.

    per_turn:  sum_t w_t * mean_{j in t} loss_j
    per_token: sum_j w_{t(j)} * loss_j
    naive:     the micro-batch's own weighted token mean (divided later by the number of
               micro-batches, which is what Hugging Face-style accumulation does)
    """
    if mode not in LOSS_MODES:
        raise ValueError(f"unknown loss mode {mode!r}; expected one of {', '.join(LOSS_MODES)}")
    token_losses, token_turn_ids, targets = supervised_token_losses(logits, labels, turn_ids)
    turn_weights = turn_weights.to(token_losses.device, token_losses.dtype)
    turn_means = turn_means_from_token_losses(token_losses, token_turn_ids, len(turn_weights))
    if mode == "per_turn":
        numerator = (turn_weights * turn_means).sum()
    else:
        token_weights = turn_weights[token_turn_ids]  # (N,)
        numerator = (token_weights * token_losses).sum()
        if mode == "naive" and len(token_losses) > 0:
            numerator = numerator / token_weights.sum()
    return MicroBatchLoss(
        numerator=numerator, turn_means=turn_means.detach(), token_losses=token_losses.detach(), token_targets=targets
    )


def micro_batch_denominator_share(
    labels: torch.Tensor, turn_ids: torch.Tensor, turn_weights: torch.Tensor, mode: str
) -> float:
    """This micro-batch's share of the global denominator; sum it over the global batch
    (every accumulation step, then all-reduce over ranks) before dividing anything by it."""
    if mode == "per_turn":
        return float(turn_weights.sum())
    _, shifted_labels, shifted_turn_ids = shift_for_next_token_prediction(None, labels, turn_ids)
    supervised_turns = shifted_turn_ids[shifted_labels != IGNORE_INDEX]
    if mode == "per_token":
        return float(turn_weights.to(torch.float64)[supervised_turns].sum())
    if mode == "naive":
        return 1.0 if len(supervised_turns) > 0 else 0.0
    raise ValueError(f"unknown loss mode {mode!r}; expected one of {', '.join(LOSS_MODES)}")


def sft_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    turn_ids: torch.Tensor,
    *,
    turn_weights: torch.Tensor | None = None,
    mode: str = "per_turn",
    global_denominator: float | None = None,
) -> torch.Tensor:
    """The multi-turn SFT loss of one micro-batch, as a share of its global batch.

    logits: (B, T, V) model output, unshifted.
    labels: (B, T) token ids, Hugging Face style (unshifted), IGNORE_INDEX where no loss.
    turn_ids: (B, T) index of the supervised turn each label belongs to (0..n_turns-1, unique
        across the micro-batch, so packed conversations keep separate turns), NO_TURN elsewhere.
    turn_weights: (n_turns,) weight of each turn; ones by default.
    global_denominator: the denominator of the whole global batch (see
        micro_batch_denominator_share). Leave it None when the micro-batch is the global batch.

    Summing the returned values over all micro-batches of a global batch gives loss(G), and
    summing their gradients gives its gradient, however the batch was cut.
    """
    if turn_weights is None:
        num_turns = int(turn_ids.max().item()) + 1 if turn_ids.numel() else 0
        turn_weights = torch.ones(max(num_turns, 0), device=logits.device)
    contribution = micro_batch_loss(logits, labels, turn_ids, turn_weights, mode)
    if global_denominator is None:
        global_denominator = micro_batch_denominator_share(labels, turn_ids, turn_weights, mode)
    if global_denominator <= 0:
        raise ValueError("the global batch has no supervised token, so its loss is undefined")
    return contribution.numerator / global_denominator
