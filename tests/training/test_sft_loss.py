"""The multi-turn loss on hand-built logits: the DESIGN.md worked example, and invariance of the
loss and its gradient to how a global batch is cut into micro-batches or packed."""

import math

import pytest
import torch

from training.loss import IGNORE_INDEX, NO_TURN, micro_batch_denominator_share, sft_loss

CONVERSATION_A = [[4.0, 4.0]]
CONVERSATION_B = [[1.0], [2.0, 2.0, 2.0, 2.0, 2.0]]


def row_with_token_losses(turns, first_turn_id=0):
    """One conversation as (logits (T, 2), labels (T,), turn_ids (T,)) whose supervised tokens
    have exactly the given cross-entropy losses: target class 0 has logit 0 and class 1 has
    logit log(e^L - 1), so -log softmax = L. Each turn follows one unsupervised prompt token."""
    labels, turn_ids, losses = [IGNORE_INDEX], [NO_TURN], [None]
    for turn_number, token_losses in enumerate(turns):
        labels.append(IGNORE_INDEX), turn_ids.append(NO_TURN), losses.append(None)
        for loss in token_losses:
            labels.append(0), turn_ids.append(first_turn_id + turn_number), losses.append(loss)
    logits = torch.zeros(len(labels), 2, dtype=torch.float64)
    for position in range(len(labels) - 1):  # logits at i predict the label at i + 1
        if losses[position + 1] is not None:
            logits[position, 1] = math.log(math.expm1(losses[position + 1]))
    return logits, torch.tensor(labels), torch.tensor(turn_ids)


def batch_of_rows(rows):
    """Right-pad rows into (B, T, V), (B, T), (B, T) tensors."""
    width = max(len(labels) for _, labels, _ in rows)
    logits = torch.zeros(len(rows), width, rows[0][0].shape[-1], dtype=rows[0][0].dtype)
    labels = torch.full((len(rows), width), IGNORE_INDEX)
    turn_ids = torch.full((len(rows), width), NO_TURN)
    for index, (row_logits, row_labels, row_turns) in enumerate(rows):
        logits[index, : len(row_labels)] = row_logits
        labels[index, : len(row_labels)] = row_labels
        turn_ids[index, : len(row_labels)] = row_turns
    return logits, labels, turn_ids


def packed_row(rows):
    """Concatenate rows into one (1, T, V) row, as packing does."""
    logits = torch.cat([row[0] for row in rows]).unsqueeze(0)
    labels = torch.cat([row[1] for row in rows]).unsqueeze(0)
    turn_ids = torch.cat([row[2] for row in rows]).unsqueeze(0)
    return logits, labels, turn_ids


def test_per_turn_loss_of_the_design_worked_example_is_seven_thirds():
    logits, labels, turn_ids = batch_of_rows(
        [row_with_token_losses(CONVERSATION_A), row_with_token_losses(CONVERSATION_B, 1)]
    )

    assert sft_loss(logits, labels, turn_ids).item() == pytest.approx(7 / 3)


def test_per_token_loss_of_the_worked_example_is_the_global_token_mean():
    logits, labels, turn_ids = batch_of_rows(
        [row_with_token_losses(CONVERSATION_A), row_with_token_losses(CONVERSATION_B, 1)]
    )

    assert sft_loss(logits, labels, turn_ids, mode="per_token").item() == pytest.approx(19 / 8)


def test_naive_loss_of_the_worked_example_averages_the_token_means_of_separate_micro_batches():
    first = batch_of_rows([row_with_token_losses(CONVERSATION_A)])
    second = batch_of_rows([row_with_token_losses(CONVERSATION_B)])

    loss = sft_loss(*first, mode="naive", global_denominator=2) + sft_loss(*second, mode="naive", global_denominator=2)

    assert loss.item() == pytest.approx((4 + 11 / 6) / 2)


def test_per_turn_loss_is_the_same_when_the_worked_example_is_split_into_micro_batches():
    first = batch_of_rows([row_with_token_losses(CONVERSATION_A)])
    second = batch_of_rows([row_with_token_losses(CONVERSATION_B)])
    denominator = sum(
        micro_batch_denominator_share(labels, turns, torch.ones(int(turns.max()) + 1), "per_turn")
        for _, labels, turns in (first, second)
    )

    loss = sft_loss(*first, global_denominator=denominator) + sft_loss(*second, global_denominator=denominator)

    assert denominator == 3
    assert loss.item() == pytest.approx(7 / 3)


def random_conversation(generator, first_turn_id, vocab=11):
    """A conversation of 1-3 turns of 1-6 tokens with random float64 logits (a leaf tensor)."""
    labels, turn_ids = [IGNORE_INDEX], [NO_TURN]
    num_turns = int(torch.randint(1, 4, (1,), generator=generator))
    for turn in range(num_turns):
        prompt = int(torch.randint(1, 4, (1,), generator=generator))
        labels += [IGNORE_INDEX] * prompt
        turn_ids += [NO_TURN] * prompt
        size = int(torch.randint(1, 7, (1,), generator=generator))
        labels += torch.randint(0, vocab, (size,), generator=generator).tolist()
        turn_ids += [first_turn_id + turn] * size
    logits = torch.randn(len(labels), vocab, generator=generator, dtype=torch.float64)
    return logits, torch.tensor(labels), torch.tensor(turn_ids), num_turns


def loss_and_gradient_by_layout(mode):
    """The same six random conversations as one padded batch, as three micro-batches of two, and
    packed two rows of three: (loss, gradient w.r.t. each conversation's logits) for each."""
    generator = torch.Generator().manual_seed(7)
    conversations = []
    for _ in range(6):
        logits, labels, turn_ids, num_turns = random_conversation(generator, 0)
        conversations.append((logits.requires_grad_(), labels, turn_ids, num_turns))

    def renumbered(group):
        rows, offset = [], 0
        for logits, labels, turn_ids, num_turns in group:
            rows.append((logits, labels, torch.where(turn_ids == NO_TURN, NO_TURN, turn_ids + offset)))
            offset += num_turns
        return rows

    def run(micro_batches, pack):
        for conversation in conversations:
            conversation[0].grad = None
        tensors = [
            packed_row(renumbered(group)) if pack else batch_of_rows(renumbered(group)) for group in micro_batches
        ]
        shares = [
            micro_batch_denominator_share(labels, turns, torch.ones(int(turns.max()) + 1), mode)
            for _, labels, turns in tensors
        ]
        denominator = sum(shares) if mode != "naive" else float(len(tensors))
        loss = sum(sft_loss(*batch, mode=mode, global_denominator=denominator) for batch in tensors)
        loss.backward()
        return loss.item(), [conversation[0].grad.clone() for conversation in conversations]

    return {
        "one micro-batch": run([conversations], pack=False),
        "three micro-batches": run([conversations[0:2], conversations[2:4], conversations[4:6]], pack=False),
        "packed": run([conversations[0:3], conversations[3:6]], pack=True),
    }


@pytest.mark.parametrize("mode", ["per_turn", "per_token"])
def test_loss_and_gradient_do_not_depend_on_micro_batches_or_packing(mode):
    results = loss_and_gradient_by_layout(mode)
    reference_loss, reference_gradients = results.pop("one micro-batch")

    for layout, (loss, gradients) in results.items():
        assert loss == pytest.approx(reference_loss, rel=1e-12), layout
        for gradient, expected in zip(gradients, reference_gradients):
            torch.testing.assert_close(gradient, expected, rtol=1e-12, atol=1e-14)


def test_naive_loss_depends_on_how_the_batch_is_split():
    results = loss_and_gradient_by_layout("naive")

    assert results["one micro-batch"][0] != pytest.approx(results["three micro-batches"][0], rel=1e-6)


def test_per_turn_loss_equals_an_independent_loop_over_turns():
    generator = torch.Generator().manual_seed(3)
    logits, labels, turn_ids, num_turns = random_conversation(generator, 0)
    log_probabilities = torch.log_softmax(logits, dim=-1)
    turn_means = []
    for turn in range(num_turns):
        positions = [i for i in range(1, len(labels)) if int(turn_ids[i]) == turn]
        turn_means.append(-sum(log_probabilities[i - 1, labels[i]] for i in positions) / len(positions))

    loss = sft_loss(logits.unsqueeze(0), labels.unsqueeze(0), turn_ids.unsqueeze(0))

    assert loss.item() == pytest.approx(float(sum(turn_means) / num_turns), rel=1e-12)


def test_a_conversation_of_weight_two_counts_like_the_conversation_appearing_twice():
    a, b = row_with_token_losses(CONVERSATION_A), row_with_token_losses(CONVERSATION_B, 1)
    weighted = sft_loss(*batch_of_rows([a, b]), turn_weights=torch.tensor([2.0, 1.0, 1.0]))
    b_again = row_with_token_losses(CONVERSATION_B, 3)
    a_twice = sft_loss(*batch_of_rows([a, b, row_with_token_losses(CONVERSATION_A, 3)]))
    b_twice = sft_loss(*batch_of_rows([a, b, b_again]))

    assert weighted.item() == pytest.approx(a_twice.item())
    assert weighted.item() != pytest.approx(b_twice.item())


def test_the_logits_at_a_position_are_scored_against_the_label_of_the_next_position():
    logits = torch.tensor([[[10.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)  # position 0 favours token 0
    labels = torch.tensor([[IGNORE_INDEX, 0]])
    turn_ids = torch.tensor([[NO_TURN, 0]])

    assert sft_loss(logits, labels, turn_ids).item() == pytest.approx(-math.log(1 / (1 + math.exp(-10))), rel=1e-5)


def test_a_supervised_label_without_a_turn_id_is_refused():
    logits = torch.zeros(1, 3, 4)
    labels = torch.tensor([[IGNORE_INDEX, 1, 2]])
    turn_ids = torch.tensor([[NO_TURN, 0, NO_TURN]])

    with pytest.raises(ValueError, match="turn id"):
        sft_loss(logits, labels, turn_ids)


def test_a_global_batch_without_a_supervised_token_is_refused():
    logits = torch.zeros(1, 3, 4)
    labels = torch.full((1, 3), IGNORE_INDEX)
    turn_ids = torch.full((1, 3), NO_TURN)

    with pytest.raises(ValueError, match="no supervised token"):
        sft_loss(logits, labels, turn_ids, mode="per_token")
