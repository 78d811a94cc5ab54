"""Packing: first-fit decreasing, and packed logits equal to unpacked ones (no attention leak)."""

import pytest
import torch

from training.collate import collate, first_fit_decreasing, plan_micro_batches
from training.data import conversation_from_record
from training.modeling import forward_for_loss, load_model
from training.tokenization import TokenizationReport, tokenize_conversation


@pytest.fixture(scope="module")
def tokenized_conversations(tiny_tokenizer, small_conversations):
    return [
        tokenize_conversation(
            tiny_tokenizer, conversation_from_record(record, "all", "test"), 4096, TokenizationReport()
        )
        for record in small_conversations
    ]


@pytest.fixture(scope="module")
def channel_index(small_conversations):
    return {name: index for index, name in enumerate(sorted({c["task_type"] for c in small_conversations}))}


def load(tiny_model_dir, attention):
    return load_model(str(tiny_model_dir), attention, gradient_checkpointing=False)


def logits_alone(model, conversation):
    with torch.no_grad():
        return model(input_ids=torch.from_numpy(conversation.input_ids).unsqueeze(0), use_cache=False).logits[
            0
        ]  # (T, V)


def logits_per_conversation(model, batch, conversations, attention):
    """Slice each conversation's logits back out of a collated (padded or packed) batch."""
    with torch.no_grad():
        logits = forward_for_loss(model, batch, attention).logits  # (R, T, V)
    return [logits[batch.segment_ids == index] for index in range(len(conversations))]  # [(T_i, V)]


def test_first_fit_decreasing_fills_bins_without_exceeding_the_capacity():
    lengths = [7, 5, 4, 3, 3, 2, 1]

    bins = first_fit_decreasing(lengths, capacity=10)

    assert sorted(index for bin_ in bins for index in bin_) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in bin_) <= 10 for bin_ in bins)
    assert len(bins) == 3  # 25 tokens need at least three bins of ten


def test_micro_batch_plan_uses_every_conversation_once_and_leaves_a_short_batch_empty_at_the_end():
    plan = plan_micro_batches(
        list(range(7)), lengths=[5, 9, 2, 7, 3, 8, 1], micro_batch_size=1, grad_accum=4, world_size=2
    )

    assigned = [conversation for step in plan for rank in step for conversation in rank]
    assert sorted(assigned) == list(range(7))
    assert plan[3][1] == []


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_logits_equal_the_logits_of_each_conversation_alone(
    tiny_model_dir, tokenized_conversations, channel_index, attention
):
    model = load(tiny_model_dir, attention)
    batch = collate(tokenized_conversations, channel_index=channel_index, pad_token_id=0, packing=True, max_len=160)
    assert batch.input_ids.shape[0] < len(tokenized_conversations)  # several conversations do share a row

    packed = logits_per_conversation(model, batch, tokenized_conversations, attention)

    for conversation, logits in zip(tokenized_conversations, packed):
        torch.testing.assert_close(logits, logits_alone(model, conversation), rtol=1e-4, atol=1e-5)


def test_padded_logits_equal_the_logits_of_each_conversation_alone(
    tiny_model_dir, tokenized_conversations, channel_index
):
    model = load(tiny_model_dir, "sdpa")
    batch = collate(tokenized_conversations, channel_index=channel_index, pad_token_id=0, packing=False, max_len=4096)

    padded = logits_per_conversation(model, batch, tokenized_conversations, "sdpa")

    for conversation, logits in zip(tokenized_conversations, padded):
        torch.testing.assert_close(logits, logits_alone(model, conversation), rtol=1e-4, atol=1e-5)


def test_packing_stays_isolated_when_the_model_config_asks_for_a_cache(
    tiny_model_dir, tokenized_conversations, channel_index
):
    model = load(tiny_model_dir, "sdpa")
    model.config.use_cache = True
    batch = collate(
        tokenized_conversations[:2], channel_index=channel_index, pad_token_id=0, packing=True, max_len=4096
    )

    second = int(batch.segment_ids[0, -1])  # packing puts the longer conversation first

    logits = logits_per_conversation(model, batch, tokenized_conversations[:2], "sdpa")[second]

    torch.testing.assert_close(logits, logits_alone(model, tokenized_conversations[second]), rtol=1e-4, atol=1e-5)


def test_an_all_ones_attention_mask_on_a_packed_row_would_leak_attention(
    tiny_model_dir, tokenized_conversations, channel_index
):
    """The trap the block-diagonal mask avoids: with a plain 2-D mask of ones the second
    conversation of a row attends to the first, even with position ids reset."""
    model = load(tiny_model_dir, "sdpa")
    batch = collate(
        tokenized_conversations[:2], channel_index=channel_index, pad_token_id=0, packing=True, max_len=4096
    )
    second = int(batch.segment_ids[0, -1])  # packing puts the longer conversation first

    with torch.no_grad():
        leaky = model(
            input_ids=batch.input_ids,
            attention_mask=torch.ones_like(batch.input_ids),
            position_ids=batch.position_ids,
            use_cache=False,
        ).logits[batch.segment_ids == second]

    assert not torch.allclose(leaky, logits_alone(model, tokenized_conversations[second]), atol=1e-3)


def test_an_empty_micro_batch_still_gives_every_parameter_a_zero_gradient(tiny_model_dir, channel_index):
    model = load(tiny_model_dir, "sdpa")
    batch = collate([], channel_index=channel_index, pad_token_id=0, packing=True, max_len=4096)

    (forward_for_loss(model, batch, "sdpa").logits.sum() * 0.0).backward()

    assert all(parameter.grad is not None and not parameter.grad.any() for parameter in model.parameters())


class RecordingModel(torch.nn.Module):
    """Stands in for a flash-attn model: records what it is called with, returns zero logits."""

    def forward(self, input_ids, **kwargs):
        self.calls = getattr(self, "calls", []) + [dict(kwargs, input_ids=input_ids)]
        return type("Output", (), {"logits": torch.zeros(*input_ids.shape, 5)})()


def test_the_flash_attn_varlen_path_lays_conversations_end_to_end_with_their_cumulative_lengths(
    tokenized_conversations, channel_index
):
    batch = collate(tokenized_conversations[:3], channel_index=channel_index, pad_token_id=0, packing=True, max_len=100)
    model = RecordingModel()

    out = forward_for_loss(model, batch, "flash_attention_2")

    call = model.calls[0]
    lengths = sorted(len(c) for c in tokenized_conversations[:3])
    assert call["input_ids"].shape == (1, sum(lengths))
    assert call.get("attention_mask") is None
    assert sorted(torch.diff(call["cu_seq_lens_q"]).tolist()) == lengths
    assert call["max_length_q"] == max(lengths)
    assert out.labels.shape == out.turn_ids.shape == (1, sum(lengths))
