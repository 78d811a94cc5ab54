"""Reward scoring (MoDS's quality stage): long conversations are cut from the left and counted,
never dropped; scores do not depend on the batch size; a model that is no reward model is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from training.config import ConfigError
from training.ifd import read_ifd_conversations
from training.reward import score_rewards

RECORDS = [
    {"id": 1, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    {
        "id": 2,
        "messages": [{"role": "user", "content": "long " * 300}, {"role": "assistant", "content": "A short reply."}],
    },
    {"id": 3, "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
]


@pytest.fixture(scope="module")
def reward_model_dir(tiny_model_dir, tmp_path_factory):
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    path = tmp_path_factory.mktemp("reward") / "rm"
    model = LlamaForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("reward-data") / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return path


def test_a_conversation_too_long_is_cut_from_the_left_scored_and_counted(reward_model_dir, data_file):
    conversations, _ = read_ifd_conversations(data_file)
    rows, report = score_rewards(str(reward_model_dir), conversations, max_len=64)
    assert report["truncated"] == 1 and len(rows) == 3
    assert rows[1]["truncated"] and rows[1]["tokens"] == 64
    assert all(isinstance(row["reward"], float) for row in rows)


def test_scores_do_not_depend_on_the_batch_size(reward_model_dir, data_file):
    conversations, _ = read_ifd_conversations(data_file)
    one = [row["reward"] for row in score_rewards(str(reward_model_dir), conversations, batch_size=1)[0]]
    three = [row["reward"] for row in score_rewards(str(reward_model_dir), conversations, batch_size=3)[0]]
    assert three == pytest.approx(one, rel=1e-4, abs=1e-5)


def test_a_causal_lm_is_not_taken_for_a_reward_model(tiny_model_dir, data_file):
    conversations, _ = read_ifd_conversations(data_file)
    with pytest.raises(ConfigError, match="not a reward model"):
        score_rewards(str(tiny_model_dir), conversations)


def test_the_command_writes_one_line_per_conversation(reward_model_dir, data_file, tmp_path):
    output = tmp_path / "rewards.jsonl"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "reward",
            "--model",
            str(reward_model_dir),
            "--data",
            str(data_file),
            "--output",
            str(output),
            "--max-len",
            "64",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["id"] for line in lines] == [1, 2, 3] and [line["truncated"] for line in lines] == [False, True, False]
