"""Bad input gets a clear error naming what is wrong; config files and flags combine as documented."""

import json

import pytest

from training.cli import main
from training.config import ConfigError, build_config, config_from_file
from training.data import DataError, read_conversations
from training.optim import deepspeed_config

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def test_a_malformed_jsonl_line_is_reported_with_its_line_number(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + '{"messages": [\n')

    with pytest.raises(DataError, match=r"train\.jsonl:2: not valid JSON"):
        read_conversations(path, "all")


def test_an_unknown_role_is_refused(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "train.jsonl", [{"messages": [{"role": "robot", "content": "beep"}, GOOD["messages"][1]]}]
    )

    with pytest.raises(DataError, match=r":1: message 0: unknown role 'robot'"):
        read_conversations(path, "all")


def test_a_conversation_without_an_assistant_reply_is_refused(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD, {"messages": [{"role": "user", "content": "Hi"}]}])

    with pytest.raises(DataError, match=r":2: no assistant message is supervised"):
        read_conversations(path, "all")


def test_a_conversation_whose_replies_are_all_flagged_false_is_refused_in_flagged_mode(tmp_path, write_jsonl):
    record = {"messages": [GOOD["messages"][0], {**GOOD["messages"][1], "train": False}]}
    path = write_jsonl(tmp_path / "train.jsonl", [record])

    with pytest.raises(DataError, match="no assistant message is supervised"):
        read_conversations(path, "flagged")


def test_a_train_flag_on_a_user_message_is_refused(tmp_path, write_jsonl):
    record = {"messages": [{**GOOD["messages"][0], "train": True}, GOOD["messages"][1]]}
    path = write_jsonl(tmp_path / "train.jsonl", [record])

    with pytest.raises(DataError, match="only assistant messages can be trained on"):
        read_conversations(path, "flagged")


def test_a_weight_that_is_not_positive_is_refused(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "train.jsonl", [{**GOOD, "weight": 0}])

    with pytest.raises(DataError, match="weight must be a positive number"):
        read_conversations(path, "all")


def test_a_missing_model_directory_is_a_clear_command_line_error(tmp_path, write_jsonl, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", [GOOD])

    status = main(["sft", "--model", str(tmp_path / "nowhere"), "--data", str(data), "--output", str(tmp_path / "run")])

    assert status == 2
    assert f"model directory {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err


def test_a_run_directory_holding_another_run_is_refused_without_resume_and_left_untouched(
    tiny_model_dir, tmp_path, write_jsonl, capsys
):
    data = write_jsonl(tmp_path / "train.jsonl", [GOOD])
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text('{"status": "completed"}')

    status = main(["sft", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(run)])

    assert status == 2
    assert "already holds a run" in capsys.readouterr().err
    assert json.loads((run / "result.json").read_text()) == {"status": "completed"}


def test_bf16_without_a_gpu_is_refused(tiny_model_dir, tmp_path, write_jsonl, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", [GOOD])

    status = main(
        ["sft", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(tmp_path / "run"), "--bf16"]
    )

    assert status == 2
    assert "bf16 needs a CUDA GPU" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "failed"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("micro_batch_size", 0, "micro_batch_size must be a positive integer"),
        ("max_len", 1, "max_len must be an integer of at least 2"),
        ("loss", "mean", "loss must be one of per_turn, per_token, naive"),
        ("warmup_ratio", 1.5, r"warmup_ratio must be in \[0, 1\)"),
        ("lr", "fast", "lr must be a number"),
        ("learning_rate", 0.1, "unknown config field"),
    ],
)
def test_a_bad_config_value_is_refused_naming_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"model": "m", "data": "d", "output": "o", field: value})


def test_resuming_from_a_directory_that_is_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="resume must be"):
        build_config({"model": "m", "data": "d", "output": "o", "resume": str(tmp_path / "missing")})


def test_a_deepspeed_config_with_its_own_optimizer_is_refused():
    config = build_config({"model": "m", "data": "d", "output": "o", "deepspeed": {"optimizer": {"type": "Adam"}}})

    with pytest.raises(ConfigError, match="remove 'optimizer' from the DeepSpeed config"):
        deepspeed_config(config, world_size=2, bf16=False)


def test_a_deepspeed_batch_size_that_contradicts_the_flags_is_refused():
    config = build_config(
        {
            "model": "m",
            "data": "d",
            "output": "o",
            "micro_batch_size": 2,
            "deepspeed": {"train_micro_batch_size_per_gpu": 4},
        }
    )

    with pytest.raises(ConfigError, match="train_micro_batch_size_per_gpu=4"):
        deepspeed_config(config, world_size=1, bf16=False)


def test_deepspeed_zero_stage_3_is_refused():
    config = build_config({"model": "m", "data": "d", "output": "o", "deepspeed": {"zero_optimization": {"stage": 3}}})

    with pytest.raises(ConfigError, match="stage 3 is not supported"):
        deepspeed_config(config, world_size=1, bf16=False)


def test_deepspeed_auto_values_are_filled_from_the_flags():
    config = build_config(
        {
            "model": "m",
            "data": "d",
            "output": "o",
            "micro_batch_size": 2,
            "grad_accum": 3,
            "deepspeed": {"train_batch_size": "auto", "zero_optimization": {"stage": 2}},
        }
    )

    ds = deepspeed_config(config, world_size=2, bf16=False)

    assert (ds["train_micro_batch_size_per_gpu"], ds["gradient_accumulation_steps"], ds["train_batch_size"]) == (
        2,
        3,
        12,
    )


def test_a_config_file_defaults_data_eval_data_and_output_to_its_run_directory(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": "/models/tiny", "lr": 0.001}))
    (tmp_path / "eval.jsonl").write_text("")

    config = build_config(*config_from_file(tmp_path / "config.json"))

    assert (config.data, config.eval_data, config.output) == (
        str(tmp_path / "train.jsonl"),
        str(tmp_path / "eval.jsonl"),
        str(tmp_path),
    )


def test_command_line_flags_override_the_config_file(tmp_path):
    from training.cli import build_parser, config_from_arguments

    (tmp_path / "config.json").write_text(json.dumps({"model": "tiny", "lr": 0.001, "packing": True, "resume": True}))
    arguments = build_parser().parse_args(
        ["sft", "--config", str(tmp_path / "config.json"), "--lr", "0.5", "--no-packing"]
    )

    config = config_from_arguments(arguments)

    assert (config.lr, config.packing, config.resume, config.model) == (0.5, False, "auto", str(tmp_path / "tiny"))
