"""Command line: `python -m training sft ...` and `python -m training make-tiny-model ...`.

Flags override the values of `--config FILE`; without a config file, --model, --data and --output
are required. Exit status: 0 when the run completed or was cancelled (see result.json), 2 for a
configuration or data error (message on stderr, result.json status "failed"), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

from training.config import (
    ATTENTION_IMPLEMENTATIONS,
    LR_SCHEDULERS,
    OPTIMIZERS,
    SUPERVISE_MODES,
    ConfigError,
    build_config,
    config_from_file,
)
from training.data import DataError
from training.loss import LOSS_MODES
from training.tokenization import TemplateError

INPUT_ERRORS = (ConfigError, DataError, TemplateError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Flywheel SFT trainer")
    commands = parser.add_subparsers(dest="command", required=True)

    sft = commands.add_parser("sft", help="supervised fine-tuning with the multi-turn loss",
                              argument_default=argparse.SUPPRESS)
    sft.add_argument("--config", help="config.json of a run directory; flags override its values")
    sft.add_argument("--model", help="Hugging Face model directory (with tokenizer and chat template)")
    sft.add_argument("--data", help="training conversations, JSONL")
    sft.add_argument("--eval-data", dest="eval_data", help="evaluation conversations, JSONL")
    sft.add_argument("--output", help="run directory (default: the config file's directory)")
    sft.add_argument("--micro-batch-size", dest="micro_batch_size", type=int, help="conversations per forward pass")
    sft.add_argument("--grad-accum", dest="grad_accum", type=int, help="micro-batches per optimizer step")
    sft.add_argument("--packing", action=argparse.BooleanOptionalAction, help="pack conversations into max_len rows")
    sft.add_argument("--max-len", dest="max_len", type=int, help="longest row in tokens")
    sft.add_argument("--optimizer", choices=OPTIMIZERS)
    sft.add_argument("--lr", type=float, help="peak learning rate")
    sft.add_argument("--weight-decay", dest="weight_decay", type=float)
    sft.add_argument("--lr-scheduler", dest="lr_scheduler", choices=LR_SCHEDULERS)
    sft.add_argument("--warmup-ratio", dest="warmup_ratio", type=float)
    sft.add_argument("--max-grad-norm", dest="max_grad_norm", type=float, help="0 turns clipping off")
    sft.add_argument("--epochs", type=int)
    sft.add_argument("--max-steps", dest="max_steps", type=int, help="overrides --epochs")
    sft.add_argument("--loss", choices=LOSS_MODES)
    sft.add_argument("--supervise", choices=SUPERVISE_MODES)
    sft.add_argument("--seed", type=int)
    sft.add_argument("--resume", nargs="?", const="auto",
                     help="continue from the latest complete checkpoint, or from the checkpoint directory given")
    sft.add_argument("--save-every", dest="save_every", type=int, help="checkpoint every N steps (0: none)")
    sft.add_argument("--keep-checkpoints", dest="keep_checkpoints", type=int)
    sft.add_argument("--log-every", dest="log_every", type=int)
    sft.add_argument("--eval-every", dest="eval_every", type=int)
    sft.add_argument("--gradient-checkpointing", dest="gradient_checkpointing", action=argparse.BooleanOptionalAction)
    sft.add_argument("--bf16", action=argparse.BooleanOptionalAction, help="default: on with a CUDA GPU that supports it")
    sft.add_argument("--attn-implementation", dest="attn_implementation", choices=ATTENTION_IMPLEMENTATIONS)
    sft.add_argument("--deepspeed", help="DeepSpeed config JSON (ZeRO stage 0-2)")

    tiny = commands.add_parser("make-tiny-model", help="write a tiny offline Llama model for tests and demos")
    tiny.add_argument("--output", required=True)
    tiny.add_argument("--template", choices=("chatml", "llama3"), default="chatml")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--hidden-size", dest="hidden_size", type=int, default=128)
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


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "make-tiny-model":
        from training.tiny_model import make_tiny_model

        path = make_tiny_model(arguments.output, template=arguments.template, seed=arguments.seed,
                               hidden_size=arguments.hidden_size)
        print(f"tiny model written to {path}")
        return 0

    try:
        config = config_from_arguments(arguments)
        from training.sft import run_sft

        result = run_sft(config)
    except INPUT_ERRORS as error:
        if is_main_process():
            print(f"error: {error}", file=sys.stderr)
        return 2
    if is_main_process():
        print(f"{result['status']}: {result['steps']} steps, last loss {result['last_loss']}, "
              f"final model {result['final_model']}")
    return 0
