"""IFD per assistant turn: batched scores equal the one-at-a-time reference, whatever the batch
size or padding; unscorable turns are None, never 0; bad model directories are clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from training.config import ConfigError
from training.ifd import read_ifd_conversations, run_ifd, score_conversations, score_one_at_a_time

CONVERSATIONS = [
    {
        "id": "a",
        "messages": [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is Paris."},
        ],
    },
    {
        "id": "b",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello!"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me about the weather in a long sentence please."},
            {"role": "assistant", "content": "It is sunny with a light breeze and a few clouds."},
        ],
    },
    {"messages": [{"role": "user", "content": "Say nothing."}, {"role": "assistant", "content": ""}]},
    {
        "messages": [
            {"role": "user", "content": "怎么用 Python 读取 CSV 文件？"},
            {"role": "assistant", "content": "可以用标准库 csv 模块。"},
        ]
    },
]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ifd") / "data.jsonl"
    path.write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in CONVERSATIONS), encoding="utf-8"
    )
    return path


def all_rows(results):
    return [row for rows in results for row in rows]


def test_batched_scores_equal_the_one_at_a_time_reference_for_every_batch_size(
    tiny_model_dir, tiny_tokenizer, data_file
):
    from transformers import AutoModelForCausalLM

    conversations, _ = read_ifd_conversations(data_file)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    reference = [score_one_at_a_time(model, tiny_tokenizer, conversation) for conversation in conversations]
    for batch_size in (1, 3, 8):
        results, report = score_conversations(str(tiny_model_dir), conversations, batch_size=batch_size)
        assert report["scored_turns"] == 5
        for got, expected in zip(all_rows(results), all_rows(reference)):
            assert got["tokens"] == expected["tokens"] > 0
            for key in ("loss_cond", "loss_direct", "ifd"):
                assert got[key] == pytest.approx(expected[key], rel=1e-4), (batch_size, key)


def test_a_turn_past_max_len_is_none_never_zero_and_an_earlier_one_is_cut_to_the_same_tokens(
    tiny_model_dir, tiny_tokenizer, data_file
):
    from training.ifd import turn_positions

    conversations, _ = read_ifd_conversations(data_file)
    second = conversations[1]
    _, positions = turn_positions(tiny_tokenizer, second)
    max_len = int(positions[0][0]) + 3  # three tokens of the first reply fit, none of the second
    results, report = score_conversations(str(tiny_model_dir), [second], max_len=max_len)
    first_turn, last_turn = results[0]
    assert last_turn["tokens"] == 0
    assert first_turn["tokens"] == 3
    assert last_turn["ifd"] is None and last_turn["loss_cond"] is None and last_turn["loss_direct"] is None
    assert 0 < first_turn["tokens"] and first_turn["ifd"] is not None
    assert report["unscored_turns"] == 1


def test_the_command_writes_one_line_per_conversation_with_every_turn(tiny_model_dir, data_file, tmp_path):
    output = tmp_path / "ifd.jsonl"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "ifd",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data_file),
            "--output",
            str(output),
            "--batch-size",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line.get("id") for line in lines] == ["a", "b", None, None]
    assert [len(line["turns"]) for line in lines] == [1, 2, 1, 1]
    assert lines[1]["turns"][1]["message"] == 4
    assert set(lines[0]["turns"][0]) == {"turn", "message", "loss_cond", "loss_direct", "tokens", "ifd"}


def test_a_model_directory_without_a_chat_template_is_a_clear_error(tiny_model_dir, tmp_path, data_file):
    import shutil

    broken = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, broken)
    for name in ("chat_template.jinja", "chat_template.json"):
        (broken / name).unlink(missing_ok=True)
    config = json.loads((broken / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (broken / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="no chat template"):
        run_ifd(model=str(broken), data=str(data_file), output=str(tmp_path / "out.jsonl"))


def test_a_directory_that_is_not_a_model_is_a_clear_error_on_the_command_line(tmp_path, data_file):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "ifd",
            "--model",
            str(tmp_path),
            "--data",
            str(data_file),
            "--output",
            str(tmp_path / "out.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert "no config.json" in completed.stderr
