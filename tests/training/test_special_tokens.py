"""Added special tokens grow the embedding and output matrices, start at the mean of the known
rows, train, and report their loss as a channel of their own; roles the template does not know
pass only when the run maps them to one it knows."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training.cli import main
from training.contract import SPECIAL_TOKENS_CHANNEL
from training.data import DataError, read_conversations
from training.special_tokens import add_tokens_to_tokenizer, resize_and_initialise

MARKERS = ["<tool_call>", "</tool_call>", "<think>", "</think>"]


def tool_conversations(count=12):
    return [
        {
            "messages": [
                {"role": "user", "content": f"What is the weather in city {i}?"},
                {
                    "role": "assistant",
                    "content": f"<think>I should ask the tool.</think><tool_call>weather({i})</tool_call>",
                },
                {"role": "function", "content": "sunny"},
                {"role": "assistant", "content": "It is sunny."},
            ],
            "task_type": "tools",
        }
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def exact_vocabulary_model(tiny_model_dir, tmp_path_factory):
    """The tiny model with exactly one embedding row per token (no spare rows), so added tokens
    must grow the matrices."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    target = tmp_path_factory.mktemp("exact-vocabulary")
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def trained_with_markers(exact_vocabulary_model, tmp_path_factory):
    run = tmp_path_factory.mktemp("markers")
    data = run / "train.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in tool_conversations()))
    assert (
        main(
            [
                "sft",
                "--model",
                str(exact_vocabulary_model),
                "--data",
                str(data),
                "--output",
                str(run / "out"),
                "--max-steps",
                "10",
                "--lr",
                "3e-3",
                "--micro-batch-size",
                "4",
                "--max-len",
                "256",
                "--add-special-tokens",
                *MARKERS,
                "--role-map",
                '{"function": "tool"}',
            ]
        )
        == 0
    )
    return run / "out"


def test_added_tokens_get_new_rows_initialised_to_the_mean_of_the_known_rows(exact_vocabulary_model):
    tokenizer = AutoTokenizer.from_pretrained(exact_vocabulary_model)
    model = AutoModelForCausalLM.from_pretrained(exact_vocabulary_model, dtype=torch.float32)
    known = len(tokenizer)
    embedding_mean = model.get_input_embeddings().weight.mean(dim=0)
    output_mean = model.get_output_embeddings().weight.mean(dim=0)

    added = add_tokens_to_tokenizer(tokenizer, MARKERS)
    resize_and_initialise(model, added, len(tokenizer))

    assert added.new_ids == tuple(range(known, known + 4))
    assert model.get_input_embeddings().weight.shape[0] == model.get_output_embeddings().weight.shape[0] == known + 4
    for row in added.new_ids:
        torch.testing.assert_close(model.get_input_embeddings().weight[row], embedding_mean)
        torch.testing.assert_close(model.get_output_embeddings().weight[row], output_mean)


def test_a_token_the_tokenizer_already_has_is_not_added_again(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    added = add_tokens_to_tokenizer(tokenizer, ["<|im_end|>", "<tool_call>"])

    assert added.ids[0] == tokenizer.convert_tokens_to_ids("<|im_end|>") and added.new_ids == (added.ids[1],)


def test_added_tokens_are_single_tokens_of_the_trained_tokenizer(trained_with_markers):
    tokenizer = AutoTokenizer.from_pretrained(trained_with_markers / "final")
    ids = tokenizer("<think>x</think>", add_special_tokens=False)["input_ids"]

    assert ids[0] == tokenizer.convert_tokens_to_ids("<think>") and ids[-1] == tokenizer.convert_tokens_to_ids(
        "</think>"
    )


def test_the_final_model_carries_the_grown_matrices(trained_with_markers, exact_vocabulary_model):
    before = AutoModelForCausalLM.from_pretrained(exact_vocabulary_model).get_input_embeddings().weight.shape[0]
    model = AutoModelForCausalLM.from_pretrained(trained_with_markers / "final")

    assert model.get_input_embeddings().weight.shape[0] == model.get_output_embeddings().weight.shape[0] == before + 4
    assert json.loads((trained_with_markers / "result.json").read_text())["added_tokens"]["tokens"] == MARKERS


def test_the_added_tokens_loss_is_its_own_channel_and_falls(trained_with_markers):
    lines = [json.loads(line) for line in (trained_with_markers / "metrics.jsonl").read_text().splitlines()]
    special = [line["channels"][SPECIAL_TOKENS_CHANNEL] for line in lines if line["kind"] == "train"]

    assert len(special) == 10
    assert special[-1] < special[0] - 1.0, special


def test_an_unknown_role_is_refused_naming_the_line(tmp_path, write_jsonl):
    data = write_jsonl(tmp_path / "train.jsonl", [*tool_conversations(1)])

    with pytest.raises(DataError, match=r"train.jsonl:1: message 2: unknown role 'function'.*role_map"):
        read_conversations(data, "all")


def test_an_unknown_role_mapped_to_a_template_role_is_read_as_that_role(tmp_path, write_jsonl):
    data = write_jsonl(tmp_path / "train.jsonl", [*tool_conversations(1)])

    (conversation,) = read_conversations(data, "all", {"function": "tool"})

    assert [message["role"] for message in conversation.messages] == ["user", "assistant", "tool", "assistant"]


def test_a_run_with_an_unmapped_role_exits_with_the_line_in_the_error(tiny_model_dir, tmp_path, write_jsonl, capsys):
    data = write_jsonl(
        tmp_path / "train.jsonl",
        [
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
            *tool_conversations(1),
        ],
    )

    assert main(["sft", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(tmp_path / "out")]) == 2

    assert "train.jsonl:2: message 2: unknown role 'function'" in capsys.readouterr().err


def test_a_role_map_must_map_to_a_role_the_trainer_knows():
    from training.config import ConfigError, build_config

    with pytest.raises(ConfigError, match="must map to one of"):
        build_config({"model": "m", "data": "d", "output": "o", "role_map": {"function": "robot"}})
