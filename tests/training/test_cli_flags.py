"""The command line is generated from TrainConfig: every field has its flag, typed and
described by the field's own docstring."""

import dataclasses

from training.cli import build_parser, config_from_arguments
from training.config import TrainConfig, field_help


def test_every_config_field_has_a_flag_with_its_docstring_as_help():
    sft = build_parser()._subparsers._group_actions[0].choices["sft"]
    flags = {action.dest: action for action in sft._actions}
    for field in dataclasses.fields(TrainConfig):
        assert field.name in flags, field.name
        assert flags[field.name].help == field_help()[field.name] != ""


def test_flags_are_typed_from_the_annotations(tmp_path):
    arguments = build_parser().parse_args(
        [
            "sft",
            "--model",
            "m",
            "--data",
            "d",
            "--output",
            str(tmp_path),
            "--max-len",
            "128",
            "--lr",
            "0.001",
            "--packing",
            "--no-bf16",
            "--resume",
        ]
    )
    config = config_from_arguments(arguments)
    assert (config.max_len, config.lr, config.packing, config.bf16, config.resume) == (128, 0.001, True, False, "auto")


def test_a_flag_left_out_keeps_the_config_default(tmp_path):
    config = config_from_arguments(build_parser().parse_args(["sft", "--model", "m", "--data", "d", "--output", "o"]))
    assert config.max_len == TrainConfig.max_len and config.loss == "per_turn"
