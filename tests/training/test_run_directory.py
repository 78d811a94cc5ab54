"""The run-directory contract with the web side, the tiny model, and independence from Django."""

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from training.cli import main

REQUIRED_TRAIN_FIELDS = {
    "step",
    "loss",
    "lr",
    "tokens_per_s",
    "padding_ratio",
    "channels",
    "epoch",
    "samples_consumed",
    "time",
}
LONG_REPLY = " ".join(["The weather today is sunny with a light breeze."] * 40)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir, small_conversations):
    """A run directory as the web side writes it (config.json, train.jsonl, eval.jsonl), trained
    with nothing but `sft --config`. One conversation's second reply is cut by max_len."""
    run = tmp_path_factory.mktemp("run")
    truncated = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Tell me more."},
            {"role": "assistant", "content": LONG_REPLY},
        ],
        "task_type": "chat",
    }
    lines = [json.dumps(record, ensure_ascii=False) for record in [*small_conversations, truncated]]
    (run / "train.jsonl").write_text("\n".join(lines) + "\n")
    (run / "eval.jsonl").write_text("\n".join(lines[:3]) + "\n")
    (run / "config.json").write_text(
        json.dumps(
            {
                "model": str(tiny_model_dir),
                "micro_batch_size": 2,
                "grad_accum": 2,
                "max_len": 160,
                "lr": 3e-3,
                "max_steps": 4,
                "eval_every": 2,
            }
        )
    )
    assert main(["sft", "--config", str(run / "config.json")]) == 0
    return run


def metrics_lines(run, kind):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [record for record in records if record["kind"] == kind]


def test_every_step_writes_a_metrics_line_with_the_fields_the_web_side_reads(finished_run):
    lines = metrics_lines(finished_run, "train")

    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    assert all(REQUIRED_TRAIN_FIELDS <= set(line) for line in lines)


def test_metrics_lines_report_a_loss_for_each_task_type_channel(finished_run):
    channels = [set(line["channels"]) for line in metrics_lines(finished_run, "train")]

    assert set().union(*channels) == {"chat", "qa"}


def test_eval_lines_are_written_when_the_run_directory_has_eval_data(finished_run):
    lines = metrics_lines(finished_run, "eval")

    assert [line["step"] for line in lines] == [2, 4]
    assert all(line["eval_loss"] > 0 for line in lines)


def test_result_json_reports_status_losses_steps_and_the_final_model(finished_run):
    result = json.loads((finished_run / "result.json").read_text())
    train_lines = metrics_lines(finished_run, "train")

    assert result["status"] == "completed"
    assert result["steps"] == 4
    assert (result["first_loss"], result["last_loss"]) == (train_lines[0]["loss"], train_lines[-1]["loss"])
    assert result["final_loss"] == result["last_loss"]
    assert result["final_model"] == str(finished_run / "final")


def test_result_json_counts_the_turn_dropped_by_truncation(finished_run):
    result = json.loads((finished_run / "result.json").read_text())

    assert (result["dropped_turns"], result["dropped_conversations"]) == (1, 0)


def test_the_final_model_loads_with_from_pretrained(finished_run):
    model = AutoModelForCausalLM.from_pretrained(finished_run / "final")
    tokenizer = AutoTokenizer.from_pretrained(finished_run / "final")

    assert model.config.model_type == "llama"
    assert tokenizer.chat_template


def test_importing_the_trainer_loads_no_django_and_no_flywheel(run_cli):
    code = (
        "import sys, training, training.cli, training.sft; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('django', 'flywheel')]; "
        "assert not loaded, loaded"
    )

    run_cli(["-c", code])


def test_make_tiny_model_is_deterministic(tiny_model_dir, tmp_path):
    assert main(["make-tiny-model", "--output", str(tmp_path / "again")]) == 0

    for name in ("model.safetensors", "tokenizer.json"):
        assert (tmp_path / "again" / name).read_bytes() == (tiny_model_dir / name).read_bytes()


def test_make_tiny_model_can_use_the_llama3_header_template(tmp_path):
    assert main(["make-tiny-model", "--output", str(tmp_path / "llama3"), "--template", "llama3"]) == 0

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "llama3")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert (
        text
        == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
