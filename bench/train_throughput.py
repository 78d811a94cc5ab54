"""Training throughput of the tiny model on real conversation lengths: padded vs packed, and the
cost of the per-turn loss against the naive one. Prints ratios against baselines run alongside.

    python bench/train_throughput.py [--steps 10] [--micro-batch-size 4] [--grad-accum 2]

Real samples (hh-rlhf, KdConv) come from ../shared/datasets; the trainer runs in this process
through the same run_sft the CLI calls, on the CPU or on CUDA (bf16, flash-attn varlen) when present.
On the CPU it runs one thread and times each step in process CPU time: on a shared machine other
load stretches wall time by whole factors, CPU time hardly at all. On CUDA it uses wall time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from training.config import build_config  # noqa: E402
from training.loss import IGNORE_INDEX, NO_TURN, sft_loss  # noqa: E402
import training.sft  # noqa: E402
from training.metrics import MetricsWriter, read_metrics  # noqa: E402
from training.sft import run_sft  # noqa: E402
from training.tiny_model import make_tiny_model  # noqa: E402

WARMUP_STEPS = 2
ON_GPU = torch.cuda.is_available()


class StepClockMetrics(MetricsWriter):
    """The trainer's metrics writer, adding the process CPU time since the previous line (one
    optimizer step, collation included) to every train line."""

    def __init__(self, *arguments, **keywords):
        super().__init__(*arguments, **keywords)
        self.last_cpu_time = time.process_time()

    def write(self, record):
        now = time.process_time()
        if record.get("kind") == "train":
            record = {**record, "cpu_time_s": now - self.last_cpu_time}
        self.last_cpu_time = now
        super().write(record)


def step_seconds(line: dict) -> float:
    return line["step_time_s"] if ON_GPU else line["cpu_time_s"]


def hh_rlhf_messages(transcript: str) -> list[dict]:
    parts = re.split(r"\n\n(Human|Assistant): ", transcript)
    messages = [{"role": "user" if who == "Human" else "assistant", "content": text.strip()}
                for who, text in zip(parts[1::2], parts[2::2])]
    alternating = all(a["role"] != b["role"] for a, b in zip(messages, messages[1:]))
    if not messages or not alternating or messages[-1]["role"] != "assistant" or not all(m["content"] for m in messages):
        return []
    return messages


def real_conversations(limit: int) -> list[dict]:
    """hh-rlhf and KdConv interleaved, so any prefix has the mix of short English and long
    Chinese conversations."""
    english, chinese = [], []
    with gzip.open(SHARED_DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            messages = hh_rlhf_messages(json.loads(line)["chosen"])
            if messages:
                english.append({"messages": messages, "task_type": "hh-rlhf"})
    for domain in ("film", "music"):
        with gzip.open(SHARED_DATASETS / f"kdconv-{domain}-dev.json.gz", "rt", encoding="utf-8") as handle:
            for dialogue in json.load(handle):
                texts = [turn["message"] for turn in dialogue["messages"]]
                messages = [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(texts)]
                if messages[-1]["role"] == "user":
                    messages.pop()
                chinese.append({"messages": messages, "task_type": f"kdconv-{domain}"})
    ratio = max(1, len(english) // max(1, len(chinese)))
    mixed = []
    while (english or chinese) and len(mixed) < limit:
        mixed += [english.pop(0) for _ in range(min(ratio, len(english)))]
        if chinese:
            mixed.append(chinese.pop(0))
    return mixed[:limit]


def train_once(name: str, workdir: Path, model: Path, data: Path, arguments, **overrides) -> list[dict]:
    """The timed metrics lines of one short run (the same seed, so the same batches every run)."""
    values = {"model": str(model), "data": str(data), "output": str(workdir / name), "micro_batch_size": arguments.micro_batch_size,
              "grad_accum": arguments.grad_accum, "max_len": arguments.max_len, "max_steps": arguments.steps,
              "lr": 1e-3, "seed": 1, **overrides}
    run_sft(build_config(values))
    return read_metrics(workdir / name / "metrics.jsonl")[WARMUP_STEPS:]


def summary(runs: list[list[dict]]) -> dict:
    """Per step, the fastest of the repeats (other load on a shared machine only ever adds time),
    then tokens/s over all steps, padding ratio and the median step time."""
    fastest = [min(step_seconds(run[step]) for run in runs) for step in range(len(runs[0]))]
    tokens = [line["tokens"] for line in runs[0]]
    return {
        "tokens_per_s": sum(tokens) / sum(fastest),
        "padding_ratio": statistics.mean(line["padding_ratio"] for line in runs[0]),
        "step_time_s": statistics.median(fastest),  # CPU seconds on the CPU, wall seconds on CUDA
    }


def loss_only_seconds(repeats: int) -> dict[str, float]:
    """Median time of the loss alone (forward and backward from logits) per mode, modes
    alternating: 4 rows of 512 tokens, a 32k vocabulary, 16 turns."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 512, 32000, generator=generator, requires_grad=True)
    labels = torch.randint(0, 32000, (4, 512), generator=generator)
    turn_ids = torch.full((4, 512), NO_TURN)
    for row in range(4):
        for turn in range(4):
            turn_ids[row, 40 + turn * 110 : 100 + turn * 110] = row * 4 + turn
    labels[turn_ids == NO_TURN] = IGNORE_INDEX
    timings = {"naive": [], "per_turn": []}
    for repeat in range(repeats + 1):
        for mode in timings:
            logits.grad = None
            clock = time.perf_counter if ON_GPU else time.process_time
            started = clock()
            sft_loss(logits, labels, turn_ids, mode=mode, global_denominator=16.0).backward()
            if repeat > 0:  # the first round only warms the allocator up
                timings[mode].append(clock() - started)
    return {mode: statistics.median(values) for mode, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--micro-batch-size", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=1024)
    parser.add_argument("--conversations", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats of every configuration")
    arguments = parser.parse_args()
    training.sft.MetricsWriter = StepClockMetrics
    if not ON_GPU:
        torch.set_num_threads(1)  # several threads spin while one waits for a core: CPU time would count the wait

    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        model = make_tiny_model(workdir / "tiny-model")
        data = workdir / "train.jsonl"
        data.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in real_conversations(arguments.conversations)))
        device = "cuda (wall time)" if ON_GPU else "cpu (1 thread, process CPU time)"
        print(f"tiny model on {device}; {arguments.conversations} real conversations; micro-batch "
              f"{arguments.micro_batch_size} x accumulation {arguments.grad_accum}; max_len {arguments.max_len}; "
              f"{arguments.steps} steps per run, first {WARMUP_STEPS} not timed; fastest of {arguments.repeats} repeats per step")

        configurations = {"padded": {"packing": False}, "packed": {"packing": True}, "naive": {"loss": "naive"}}
        runs = {name: [] for name in configurations}
        for repeat in range(arguments.repeats):  # alternate, so drift on a shared machine hits all alike
            for name, overrides in configurations.items():
                runs[name].append(train_once(f"{name}-{repeat}", workdir, model, data, arguments, **overrides))
        padded, packed, naive = (summary(runs[name]) for name in configurations)

        unit = "tokens/s" if ON_GPU else "tokens/CPU-s"
        print(f"\npadded (baseline): {padded['tokens_per_s']:9.0f} {unit}, padding ratio {padded['padding_ratio']:.3f}")
        print(f"packed:            {packed['tokens_per_s']:9.0f} {unit}, padding ratio {packed['padding_ratio']:.3f}")
        print(f"packed / padded {unit}: {packed['tokens_per_s'] / padded['tokens_per_s']:.2f}x")
        print(f"\nmedian step time (padded), naive loss (baseline): {naive['step_time_s'] * 1000:7.1f} ms")
        print(f"median step time (padded), per_turn loss:         {padded['step_time_s'] * 1000:7.1f} ms")
        print(f"per_turn / naive step time: {padded['step_time_s'] / naive['step_time_s']:.3f}x")

        loss_alone = loss_only_seconds(repeats=15)
        print(f"\nloss alone, forward+backward on (4, 512, 32000) logits: naive (baseline) {loss_alone['naive'] * 1000:.1f} ms, "
              f"per_turn {loss_alone['per_turn'] * 1000:.1f} ms, ratio {loss_alone['per_turn'] / loss_alone['naive']:.3f}x")


if __name__ == "__main__":
    main()
