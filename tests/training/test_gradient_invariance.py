"""One optimizer step of the real trainer on the tiny model follows an independent per-turn
reference, whatever the layout of the global batch: one micro-batch, accumulation, packing,
gradient checkpointing, two torchrun (gloo) ranks, or DeepSpeed ZeRO-2 on two ranks.

The step is plain SGD with lr 1, no clipping, no schedule: the weights move by exactly minus the
gradient, so comparing the final weights compares the gradients. Seven conversations in a global
batch of eight leave one micro-batch empty in the multi-step layouts."""

import json

import pytest
import torch
from safetensors.torch import load_file

from training.cli import main
from training.data import conversation_from_record
from training.loss import NO_TURN
from training.tokenization import TokenizationReport, tokenize_conversation

ONE_SGD_STEP = [
    "--optimizer",
    "sgd",
    "--lr",
    "1.0",
    "--lr-scheduler",
    "constant",
    "--warmup-ratio",
    "0",
    "--max-grad-norm",
    "0",
    "--max-steps",
    "1",
    "--max-len",
    "256",
]

IN_PROCESS_LAYOUTS = {
    "one micro-batch": ["--micro-batch-size", "8", "--grad-accum", "1"],
    "eight accumulation steps": ["--micro-batch-size", "1", "--grad-accum", "8"],
    "packed micro-batches": ["--micro-batch-size", "4", "--grad-accum", "2", "--packing"],
    "gradient checkpointing": ["--micro-batch-size", "4", "--grad-accum", "2", "--gradient-checkpointing"],
}


@pytest.fixture(scope="module")
def train_file(tmp_path_factory, small_conversations):
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in small_conversations))
    return path


@pytest.fixture(scope="module")
def tokenized(tiny_tokenizer, small_conversations):
    return [
        tokenize_conversation(
            tiny_tokenizer, conversation_from_record(record, "all", "test"), 256, TokenizationReport()
        )
        for record in small_conversations
    ]


@pytest.fixture(scope="module")
def initial_weights(tiny_model_dir):
    return load_file(tiny_model_dir / "model.safetensors")


def token_log_likelihoods(model, conversation):
    """(T-1,) log p(token_i | tokens before it), one conversation alone, no padding."""
    input_ids = torch.from_numpy(conversation.input_ids).unsqueeze(0)
    log_probabilities = torch.log_softmax(model(input_ids=input_ids, use_cache=False).logits[0, :-1].float(), dim=-1)
    return log_probabilities.gather(1, input_ids[0, 1:, None])[:, 0]


def reference(tiny_model_dir, tokenized, loss_of_conversations):
    """Loss and gradient of a fresh model, computed conversation by conversation."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    loss = loss_of_conversations([token_log_likelihoods(model, c) for c in tokenized])
    loss.backward()
    return loss.item(), {name: parameter.grad.clone() for name, parameter in model.named_parameters()}


def per_turn_reference(log_likelihoods, tokenized):
    numerator, denominator = 0.0, 0.0
    for conversation, token_log_likelihood in zip(tokenized, log_likelihoods):
        turn_of_target = conversation.turn_ids[1:]  # the turn of the token each position predicts
        for turn in range(conversation.num_turns):
            in_turn = torch.from_numpy(turn_of_target == turn)
            numerator = numerator + conversation.weight * -token_log_likelihood[in_turn].mean()
            denominator += conversation.weight
    return numerator / denominator


@pytest.fixture(scope="module")
def per_turn(tiny_model_dir, tokenized):
    return reference(tiny_model_dir, tokenized, lambda log_likelihoods: per_turn_reference(log_likelihoods, tokenized))


def gradient_of_the_step(output, initial_weights):
    final = load_file(output / "final" / "model.safetensors")
    return {name: initial_weights[name] - final[name] for name in initial_weights}


def assert_follows(output, initial_weights, expected):
    expected_loss, expected_gradients = expected
    result = json.loads((output / "result.json").read_text())
    assert result["first_loss"] == pytest.approx(expected_loss, rel=1e-5)
    gradients = gradient_of_the_step(output, initial_weights)
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradient, expected_gradients[name], rtol=1e-4, atol=2e-6, msg=name)


@pytest.mark.parametrize("layout", IN_PROCESS_LAYOUTS)
def test_one_step_follows_the_per_turn_reference_gradient(
    layout, tiny_model_dir, train_file, tmp_path, initial_weights, per_turn
):
    output = tmp_path / "run"

    assert (
        main(
            [
                "sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(train_file),
                "--output",
                str(output),
                *ONE_SGD_STEP,
                *IN_PROCESS_LAYOUTS[layout],
            ]
        )
        == 0
    )

    assert_follows(output, initial_weights, per_turn)


def test_one_step_on_two_torchrun_ranks_follows_the_per_turn_reference_gradient(
    tiny_model_dir, train_file, tmp_path, initial_weights, per_turn, run_cli, torchrun
):
    output = tmp_path / "run"

    run_cli(
        torchrun(
            "--model",
            str(tiny_model_dir),
            "--data",
            str(train_file),
            "--output",
            str(output),
            *ONE_SGD_STEP,
            "--micro-batch-size",
            "1",
            "--grad-accum",
            "4",
        )
    )

    assert json.loads((output / "result.json").read_text())["world_size"] == 2
    assert_follows(output, initial_weights, per_turn)


def test_one_step_under_deepspeed_zero2_on_two_ranks_follows_the_per_turn_reference_gradient(
    tiny_model_dir, train_file, tmp_path, initial_weights, per_turn, run_cli, torchrun
):
    output = tmp_path / "run"
    deepspeed_config = tmp_path / "zero2.json"
    deepspeed_config.write_text(json.dumps({"zero_optimization": {"stage": 2}, "train_batch_size": "auto"}))

    run_cli(
        torchrun(
            "--model",
            str(tiny_model_dir),
            "--data",
            str(train_file),
            "--output",
            str(output),
            *ONE_SGD_STEP,
            "--micro-batch-size",
            "2",
            "--grad-accum",
            "2",
            "--deepspeed",
            str(deepspeed_config),
        )
    )

    result = json.loads((output / "result.json").read_text())
    assert (result["world_size"], result["deepspeed"]) == (2, True)
    assert_follows(output, initial_weights, per_turn)


def relative_difference(gradients, reference_gradients):
    """|g - g_ref| / |g_ref| over all parameters: at initialisation every token costs about
    log(vocab), so the loss values barely differ, but which tokens the gradient favours does."""
    difference = sum(float((gradients[n] - reference_gradients[n]).square().sum()) for n in gradients)
    size = sum(float(reference_gradients[n].square().sum()) for n in gradients)
    return (difference / size) ** 0.5


def token_mean_reference(log_likelihoods, tokenized):
    numerator, denominator = 0.0, 0.0
    for conversation, token_log_likelihood in zip(tokenized, log_likelihoods):
        supervised = torch.from_numpy(conversation.turn_ids[1:] != NO_TURN)
        numerator = numerator + conversation.weight * -token_log_likelihood[supervised].sum()
        denominator += conversation.weight * int(supervised.sum())
    return numerator / denominator


def micro_batch_mean_reference(log_likelihoods, tokenized):
    """One conversation per micro-batch: the mean over micro-batches of each one's token mean."""
    means = []
    for conversation, token_log_likelihood in zip(tokenized, log_likelihoods):
        supervised = torch.from_numpy(conversation.turn_ids[1:] != NO_TURN)
        means.append(-token_log_likelihood[supervised].mean())
    return sum(means) / len(means)


def test_per_token_loss_follows_the_global_token_mean_and_differs_from_the_per_turn_loss(
    tiny_model_dir, train_file, tmp_path, initial_weights, tokenized, per_turn
):
    expected = reference(tiny_model_dir, tokenized, lambda lls: token_mean_reference(lls, tokenized))
    output = tmp_path / "run"

    assert (
        main(
            [
                "sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(train_file),
                "--output",
                str(output),
                *ONE_SGD_STEP,
                "--micro-batch-size",
                "2",
                "--grad-accum",
                "4",
                "--loss",
                "per_token",
            ]
        )
        == 0
    )

    assert_follows(output, initial_weights, expected)
    assert relative_difference(expected[1], per_turn[1]) > 0.05


def test_naive_loss_follows_the_mean_of_micro_batch_token_means_and_differs_from_the_per_turn_loss(
    tiny_model_dir, train_file, tmp_path, initial_weights, tokenized, per_turn
):
    expected = reference(tiny_model_dir, tokenized, lambda lls: micro_batch_mean_reference(lls, tokenized))
    output = tmp_path / "run"

    assert (
        main(
            [
                "sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(train_file),
                "--output",
                str(output),
                *ONE_SGD_STEP,
                "--micro-batch-size",
                "1",
                "--grad-accum",
                "8",
                "--loss",
                "naive",
            ]
        )
        == 0
    )

    assert_follows(output, initial_weights, expected)
    assert relative_difference(expected[1], per_turn[1]) > 0.05
