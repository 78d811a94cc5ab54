"""From a global batch of tokenized conversations to the micro-batches every process runs.

Padding (default): one row per conversation, right-padded to the longest row of the micro-batch.
Packing: the micro-batch's conversations are placed first-fit decreasing into rows of at most
max_len tokens; position ids restart at 0 for every conversation and `segment_ids` say which
conversation each token belongs to, so the forward pass can keep attention inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.conventions import IGNORE_INDEX, NO_TURN
from training.tokenization import TokenizedConversation

PADDING_SEGMENT = -1
"""segment_ids value of padding positions."""


@dataclass
class MicroBatch:
    input_ids: torch.Tensor
    """(R, T) token ids; R rows of T tokens."""
    labels: torch.Tensor
    """(R, T) unshifted labels, IGNORE_INDEX where no loss."""
    turn_ids: torch.Tensor
    """(R, T) micro-batch-wide turn index of supervised positions, NO_TURN elsewhere."""
    position_ids: torch.Tensor
    """(R, T) position within the token's own conversation."""
    segment_ids: torch.Tensor
    """(R, T) conversation index within the micro-batch, PADDING_SEGMENT on padding."""
    turn_weights: torch.Tensor
    """(n_turns,) the conversation weight of each turn."""
    turn_channels: torch.Tensor
    """(n_turns,) index of each turn's task_type in the run's channel list."""
    packed: bool
    num_conversations: int

    @property
    def is_empty(self) -> bool:
        return self.num_conversations == 0

    @property
    def real_tokens(self) -> int:
        return int((self.segment_ids != PADDING_SEGMENT).sum())

    @property
    def padding_tokens(self) -> int:
        return int((self.segment_ids == PADDING_SEGMENT).sum())

    @property
    def attention_mask_2d(self) -> torch.Tensor:
        """(R, T) 1 on real tokens: only meaningful for padded (one conversation a row) batches."""
        return (self.segment_ids != PADDING_SEGMENT).long()

    def to(self, device: torch.device) -> MicroBatch:
        moved = {
            name: value.to(device) if isinstance(value, torch.Tensor) else value
            for name, value in self.__dict__.items()
        }
        return MicroBatch(**moved)


def plan_micro_batches(
    conversation_ids: list[int], lengths: list[int], micro_batch_size: int, grad_accum: int, world_size: int
) -> list[list[list[int]]]:
    """Split one global batch into [accumulation step][rank] lists of conversation ids.

    Conversations are sorted by length first, so each micro-batch holds similar lengths (less
    padding) and the ranks of one accumulation step get neighbouring lengths (balanced work).
    The split never changes the loss, only the speed. A short last batch leaves some
    micro-batches empty; those ranks still run a forward pass.
    """
    if len(conversation_ids) > micro_batch_size * grad_accum * world_size:
        raise ValueError("more conversations than one global batch holds")
    ordered = sorted(conversation_ids, key=lambda index: (-lengths[index], index))
    plan = [[[] for _ in range(world_size)] for _ in range(grad_accum)]
    per_step = micro_batch_size * world_size
    for position, conversation_id in enumerate(ordered):
        step, within_step = divmod(position, per_step)
        plan[step][within_step % world_size].append(conversation_id)
    return plan


def first_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins (lists of indices into `lengths`) of total length <= capacity, longest items first."""
    bins: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        if lengths[index] > capacity:
            raise ValueError(f"an item of length {lengths[index]} does not fit in {capacity}")
        for bin_index, room in enumerate(free):
            if lengths[index] <= room:
                bins[bin_index].append(index)
                free[bin_index] -= lengths[index]
                break
        else:
            bins.append([index])
            free.append(capacity - lengths[index])
    return bins


def collate(
    conversations: list[TokenizedConversation],
    *,
    channel_index: dict[str, int],
    pad_token_id: int,
    packing: bool,
    max_len: int,
) -> MicroBatch:
    """One micro-batch tensor set; an empty list gives a one-token dummy batch with no turns."""
    if not conversations:
        return dummy_micro_batch(pad_token_id, packing)
    if packing:
        rows = first_fit_decreasing([len(c) for c in conversations], max_len)
    else:
        rows = [[index] for index in range(len(conversations))]
    width = max(sum(len(conversations[i]) for i in row) for row in rows)
    shape = (len(rows), width)
    input_ids = np.full(shape, pad_token_id, dtype=np.int64)
    labels = np.full(shape, IGNORE_INDEX, dtype=np.int64)
    turn_ids = np.full(shape, NO_TURN, dtype=np.int64)
    position_ids = np.zeros(shape, dtype=np.int64)
    segment_ids = np.full(shape, PADDING_SEGMENT, dtype=np.int64)
    turn_weights: list[float] = []
    turn_channels: list[int] = []
    for row_index, row in enumerate(rows):
        cursor = 0
        for conversation_index in row:
            conversation = conversations[conversation_index]
            span = slice(cursor, cursor + len(conversation))
            input_ids[row_index, span] = conversation.input_ids
            labels[row_index, span] = conversation.labels
            first_turn = len(turn_weights)
            turn_ids[row_index, span] = np.where(
                conversation.turn_ids == NO_TURN, NO_TURN, conversation.turn_ids + first_turn
            )
            position_ids[row_index, span] = np.arange(len(conversation))
            segment_ids[row_index, span] = conversation_index
            turn_weights += [conversation.weight] * conversation.num_turns
            turn_channels += [channel_index[conversation.task_type]] * conversation.num_turns
            cursor += len(conversation)
        # Trailing padding counts as a sequence of its own, so that position-id based packing
        # (flash-attn varlen) never glues it onto the last conversation.
        position_ids[row_index, cursor:] = np.arange(width - cursor)
    return MicroBatch(
        input_ids=torch.from_numpy(input_ids),
        labels=torch.from_numpy(labels),
        turn_ids=torch.from_numpy(turn_ids),
        position_ids=torch.from_numpy(position_ids),
        segment_ids=torch.from_numpy(segment_ids),
        turn_weights=torch.tensor(turn_weights, dtype=torch.float32),
        turn_channels=torch.tensor(turn_channels, dtype=torch.long),
        packed=packing,
        num_conversations=len(conversations),
    )


def dummy_micro_batch(pad_token_id: int, packing: bool) -> MicroBatch:
    """Stand-in for an empty micro-batch: under DDP every rank must run forward and backward
    (with zero loss) or the gradient all-reduce waits forever for the rank that skipped."""
    return MicroBatch(
        input_ids=torch.full((1, 1), pad_token_id, dtype=torch.long),
        labels=torch.full((1, 1), IGNORE_INDEX, dtype=torch.long),
        turn_ids=torch.full((1, 1), NO_TURN, dtype=torch.long),
        position_ids=torch.zeros((1, 1), dtype=torch.long),
        segment_ids=torch.full((1, 1), PADDING_SEGMENT, dtype=torch.long),
        turn_weights=torch.zeros(0, dtype=torch.float32),
        turn_channels=torch.zeros(0, dtype=torch.long),
        packed=packing,
        num_conversations=0,
    )


def block_diagonal_causal_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """(R, 1, T, T) boolean mask, True where a query may attend to a key: same conversation and
    not in the future. Padding attends causally to padding only, so no row is fully masked
    (a fully masked softmax row is NaN, and NaN times a zero gradient is still NaN)."""
    positions = torch.arange(segment_ids.shape[1], device=segment_ids.device)
    causal = positions[None, :] <= positions[:, None]  # (T, T): key <= query
    same_segment = segment_ids[:, :, None] == segment_ids[:, None, :]  # (R, T, T)
    return (same_segment & causal[None]).unsqueeze(1)  # (R, 1, T, T)
