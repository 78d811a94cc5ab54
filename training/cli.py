"""Command line: `python -m training sft ...` and `python -m training make-tiny-model ...`.

Flags override the values of `--config FILE`; without a config file, --model, --data and --output
are required. Exit status: 0 when the run completed, was cancelled or was stopped by a health alert
(see result.json), 2 for a configuration or data error (message on stderr, result.json status
"failed"), 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from training.config import (
    ATTENTION_IMPLEMENTATIONS,
    LR_SCHEDULERS,
    OPTIMIZERS,
    SUPERVISE_MODES,
    ConfigError,
    TrainConfig,
    build_config,
    config_from_file,
    field_help,
)
from training.conventions import LOSS_MODES
from training.data import DataError
from training.generate import run_generate
from training.ifd import run_ifd
from training.reward import run_reward
from training.tokenization import TemplateError

INPUT_ERRORS = (ConfigError, DataError, TemplateError)


CHOICES = {
    "optimizer": OPTIMIZERS,
    "lr_scheduler": LR_SCHEDULERS,
    "loss": LOSS_MODES,
    "supervise": SUPERVISE_MODES,
    "attn_implementation": ATTENTION_IMPLEMENTATIONS,
}
_TYPES = {"int": int, "float": float, "int | None": int}


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (`--max-len` for max_len), typed from its annotation and
    described by its docstring: the fields are described once, in training/config.py."""
    helps = field_help()
    for field in dataclasses.fields(TrainConfig):
        flag, kind = "--" + field.name.replace("_", "-"), str(field.type)
        options: dict = {"dest": field.name, "help": helps.get(field.name, "")}
        if field.name == "resume":  # a bare --resume means "auto"
            options.update(nargs="?", const="auto")
        elif kind in ("bool", "bool | None"):
            options["action"] = argparse.BooleanOptionalAction
        elif kind == "list[str]":  # --lora-target-modules q_proj v_proj
            options["nargs"] = "+"
        elif kind in _TYPES:
            options["type"] = _TYPES[kind]
        if field.name in CHOICES:
            options["choices"] = CHOICES[field.name]
        parser.add_argument(flag, **options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Flywheel SFT trainer")
    commands = parser.add_subparsers(dest="command", required=True)

    sft = commands.add_parser(
        "sft", help="supervised fine-tuning with the multi-turn loss", argument_default=argparse.SUPPRESS
    )
    sft.add_argument("--config", help="config.json of a run directory; flags override its values")
    add_config_flags(sft)

    tiny = commands.add_parser("make-tiny-model", help="write a tiny offline Llama model for tests and demos")
    tiny.add_argument("--output", required=True)
    tiny.add_argument("--template", choices=("chatml", "llama3"), default="chatml")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--hidden-size", dest="hidden_size", type=int, default=128)

    generate = commands.add_parser("generate", help="answer evaluation items with a model (batched, left-padded)")
    generate.add_argument(
        "--model", required=True, help="Hugging Face model directory (a run's final model or a checkpoint)"
    )
    generate.add_argument(
        "--data",
        required=True,
        help='JSONL items {"messages": [...], "task_type"?}; a final '
        "assistant message is the reference and is not shown to the model",
    )
    generate.add_argument("--output", required=True, help="JSONL answers, one line per item with answer")
    generate.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=256)
    generate.add_argument("--batch-size", dest="batch_size", type=int, default=8)
    generate.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument(
        "--reference-loss",
        dest="reference_loss",
        action="store_true",
        help="also write reference_loss: the per-turn loss of each item's reference answer",
    )

    ifd = commands.add_parser("ifd", help="IFD (instruction-following difficulty) of every assistant turn, batched")
    ifd.add_argument("--model", required=True, help="Hugging Face model directory (usually the one to fine-tune)")
    ifd.add_argument("--data", required=True, help='JSONL conversations {"messages": [...], "id"?}, as for sft')
    ifd.add_argument(
        "--output",
        required=True,
        help='JSONL, one line per conversation: {"line", "id"?, "turns": '
        '[{"turn", "message", "loss_cond", "loss_direct", "tokens", "ifd"}]}',
    )
    ifd.add_argument("--batch-size", dest="batch_size", type=int, default=8)
    ifd.add_argument(
        "--max-len",
        dest="max_len",
        type=int,
        default=2048,
        help="tokens per pass; a turn starting past it is not scored (ifd null)",
    )

    reward = commands.add_parser(
        "reward", help="a reward model's score of each conversation (long ones cut from the left)"
    )
    reward.add_argument("--model", required=True, help="sequence-classification model directory with one output")
    reward.add_argument("--data", required=True, help='JSONL conversations {"messages": [...], "id"?}')
    reward.add_argument(
        "--output",
        required=True,
        help='JSONL, one line per conversation: {"line", "id"?, "reward", "tokens", "truncated"}',
    )
    reward.add_argument("--batch-size", dest="batch_size", type=int, default=8)
    reward.add_argument("--max-len", dest="max_len", type=int, default=2048)
    return parser


def config_from_arguments(arguments: argparse.Namespace):
    flags = {key: value for key, value in vars(arguments).items() if key not in ("command", "config")}
    if "config" in arguments:
        values, run_dir = config_from_file(arguments.config)
        values.update(flags)
        return build_config(values, run_dir)
    return build_config(flags)


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def run_and_report(command, **arguments) -> int:
    """Run a command that returns a report: the report is stdout's last line (JSON); an input
    error is one line on stderr and exit status 2."""
    try:
        report = command(**arguments)
    except INPUT_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


# The commands below import their module when they run: each loads torch, which `--help` and
# the other commands should not wait for.


def generate_main(arguments: argparse.Namespace) -> int:
    return run_and_report(
        run_generate,
        model=arguments.model,
        data=arguments.data,
        output=arguments.output,
        max_new_tokens=arguments.max_new_tokens,
        batch_size=arguments.batch_size,
        temperature=arguments.temperature,
        seed=arguments.seed,
        reference_loss=arguments.reference_loss,
    )


def ifd_main(arguments: argparse.Namespace) -> int:
    return run_and_report(
        run_ifd,
        model=arguments.model,
        data=arguments.data,
        output=arguments.output,
        batch_size=arguments.batch_size,
        max_len=arguments.max_len,
    )


def reward_main(arguments: argparse.Namespace) -> int:
    return run_and_report(
        run_reward,
        model=arguments.model,
        data=arguments.data,
        output=arguments.output,
        batch_size=arguments.batch_size,
        max_len=arguments.max_len,
    )


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "make-tiny-model":
        # Deferred, like run_sft below: the model code loads torch, which parsing arguments does not need.
        from training.tiny_model import make_tiny_model

        path = make_tiny_model(
            arguments.output, template=arguments.template, seed=arguments.seed, hidden_size=arguments.hidden_size
        )
        print(f"tiny model written to {path}")
        return 0
    if arguments.command == "generate":
        return generate_main(arguments)
    if arguments.command == "ifd":
        return ifd_main(arguments)
    if arguments.command == "reward":
        return reward_main(arguments)

    try:
        config = config_from_arguments(arguments)
        # Deferred: the training loop loads torch (see make-tiny-model above).
        from training.sft import run_sft

        result = run_sft(config)
    except INPUT_ERRORS as error:
        if is_main_process():
            print(f"error: {error}", file=sys.stderr)
        return 2
    if is_main_process():
        print(
            f"{result['status']}: {result['steps']} steps, last loss {result['last_loss']}, "
            f"final model {result['final_model']}"
            + (f" ({result['stop_reason']})" if result.get("stop_reason") else "")
        )
    return 0
