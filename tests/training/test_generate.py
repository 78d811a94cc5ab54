"""`python -m training generate`: batched, left-padded answers through the model's own template."""

from __future__ import annotations

import json

import pytest

from training.data import DataError
from training.generate import generate_answers, read_items


def eval_items(small_conversations):
    return small_conversations[:5]


def test_batched_and_one_at_a_time_greedy_answers_are_the_same(
    tiny_model_dir, small_conversations, write_jsonl, tmp_path
):
    items = read_items(write_jsonl(tmp_path / "items.jsonl", eval_items(small_conversations)))
    batched, _ = generate_answers(str(tiny_model_dir), items, max_new_tokens=8, batch_size=4)
    single, _ = generate_answers(str(tiny_model_dir), items, max_new_tokens=8, batch_size=1)
    assert [answer["answer"] for answer in batched] == [answer["answer"] for answer in single]
    assert [answer["line"] for answer in batched] == [1, 2, 3, 4, 5]


def test_the_final_assistant_message_is_the_reference_and_not_part_of_the_prompt(
    small_conversations, write_jsonl, tmp_path
):
    items = read_items(write_jsonl(tmp_path / "items.jsonl", small_conversations[:1]))
    assert items[0].reference == "The capital of France is Paris."
    assert items[0].messages == [{"role": "user", "content": "What is the capital of France?"}]


def test_an_item_without_a_user_turn_is_refused_with_its_line(write_jsonl, tmp_path):
    path = write_jsonl(
        tmp_path / "items.jsonl",
        [
            {"messages": [{"role": "user", "content": "Hi"}]},
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "ok"}]},
        ],
    )
    with pytest.raises(DataError, match=r"items.jsonl:2: the item has no user turn"):
        read_items(path)


def test_the_command_writes_one_answer_line_per_item(
    tiny_model_dir, small_conversations, write_jsonl, tmp_path, run_cli
):
    data = write_jsonl(tmp_path / "items.jsonl", eval_items(small_conversations))
    output = tmp_path / "answers.jsonl"
    completed = run_cli(
        [
            "-m",
            "training",
            "generate",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data),
            "--output",
            str(output),
            "--max-new-tokens",
            "4",
            "--batch-size",
            "2",
        ]
    )
    answers = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(answers) == 5 and all(isinstance(answer["answer"], str) for answer in answers)
    assert answers[0]["task_type"] == "qa"
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["items"] == 5 and report["new_tokens"] <= 20


def test_the_command_refuses_bad_items_with_status_2_and_writes_nothing(tiny_model_dir, write_jsonl, tmp_path, run_cli):
    data = write_jsonl(tmp_path / "items.jsonl", [{"messages": [{"role": "assistant", "content": "alone"}]}])
    output = tmp_path / "answers.jsonl"
    completed = run_cli(
        ["-m", "training", "generate", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(output)],
        expect=2,
    )
    assert "no user turn" in completed.stderr
    assert not output.exists()


def test_the_reference_loss_is_the_per_turn_loss_of_the_final_assistant_message(
    tiny_model_dir, small_conversations, write_jsonl, tmp_path
):
    from training.generate import reference_losses

    records = [small_conversations[0], {"messages": [{"role": "user", "content": "No reference here."}]}]
    items = read_items(write_jsonl(tmp_path / "items.jsonl", records))
    losses = reference_losses(str(tiny_model_dir), items)
    assert losses[1] is None
    assert 0 < losses[0] < 20  # a random tiny model: near log(vocabulary), never zero
