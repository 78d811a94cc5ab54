"""The tiny model learns from real conversations: the loss falls, overall and in every channel."""

import json

import pytest

from training.cli import main
from training.metrics import read_metrics

STEPS = 30


def mean(values):
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def run_on_real_data(tmp_path_factory, tiny_model_dir, real_conversations):
    run = tmp_path_factory.mktemp("real-data")
    data = run / "train.jsonl"
    data.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in real_conversations))
    assert (
        main(
            [
                "sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(data),
                "--output",
                str(run / "out"),
                "--micro-batch-size",
                "4",
                "--max-len",
                "256",
                "--lr",
                "5e-3",
                "--max-steps",
                str(STEPS),
            ]
        )
        == 0
    )
    return run / "out"


def test_the_loss_falls_on_real_english_and_chinese_conversations(run_on_real_data):
    losses = [line["loss"] for line in read_metrics(run_on_real_data / "metrics.jsonl")]

    first, last = mean(losses[:5]), mean(losses[-5:])
    print(
        f"\nper-turn loss over {STEPS} steps: first five steps {first:.3f}, last five {last:.3f} ({last / first:.2f}x)"
    )
    assert last < first - 1.0  # nats; an untrained model starts near log(vocabulary) = 7.7


def test_the_loss_falls_in_every_task_type_channel(run_on_real_data):
    lines = read_metrics(run_on_real_data / "metrics.jsonl")
    channels = json.loads((run_on_real_data / "result.json").read_text())["channels"]

    assert channels == ["hh-rlhf", "kdconv-film", "kdconv-music"]
    for channel in channels:
        values = [line["channels"][channel] for line in lines if channel in line["channels"]]
        first, last = mean(values[:3]), mean(values[-3:])
        print(f"\n{channel}: first three logged steps {first:.3f}, last three {last:.3f} ({last / first:.2f}x)")
        assert last < first - 0.75, channel


def test_a_healthy_run_on_real_data_raises_no_health_alert(run_on_real_data):
    kinds = [json.loads(line)["kind"] for line in (run_on_real_data / "metrics.jsonl").read_text().splitlines()]

    assert "alert" not in kinds and json.loads((run_on_real_data / "result.json").read_text())["alerts"] == []
