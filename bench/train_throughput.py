"""Training throughput on real conversation lengths: padded vs packed, and the cost of the
per-turn loss against the naive one, through the same run_sft the CLI calls. Prints tokens/s,
MFU (model FLOPs utilisation against the GPU's bf16 peak), peak memory, and ratios against
baselines run alongside.

    python bench/train_throughput.py                                     # tiny model, CPU or the GPU present
    python bench/train_throughput.py --device cuda --model-size 0.5b     # a 0.5B model on one GPU, bf16
    python bench/train_throughput.py --device cpu --model-size tiny      # what CI's machines can run

Models are built offline from a config of the size asked for (random weights: throughput does
not depend on them), in Llama's architecture with the dimensions of a public model of that size
(0.5b, 1.5b: Qwen2.5's; 7b: Llama 2's), and its real vocabulary size, so the output layer costs
what it costs. Conversations are real (hh-rlhf, KdConv from ../shared/datasets, or --datasets),
tokenized by the tiny model's byte-level tokenizer.

On the CPU it runs one thread and times each step in process CPU time (on a shared machine other
load stretches wall time by whole factors, CPU time hardly at all); MFU is printed only with
--peak-tflops. On CUDA it uses wall time, bf16 autocast, and flash-attn varlen for packed rows
when flash-attn is installed (sdpa with a block-diagonal mask otherwise); peak memory is
torch.cuda.max_memory_allocated for each configuration.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WARMUP_STEPS = 2

# Dense bf16 tensor-core peak, TFLOP/s, by a substring of torch.cuda.get_device_name() (vendor data sheets).
BF16_PEAK_TFLOPS = (
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("GH200", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.2),
    ("RTX 3090", 71.0),
)

# name -> (hidden, layers, heads, kv heads, intermediate, vocabulary, tied embeddings)
MODEL_SIZES = {
    "tiny": None,  # the trainer's own tiny model (python -m training make-tiny-model)
    "0.5b": (896, 24, 14, 2, 4864, 151936, True),  # Qwen2.5-0.5B's dimensions
    "1.5b": (1536, 28, 12, 2, 8960, 151936, True),  # Qwen2.5-1.5B's
    "7b": (
        4096,
        32,
        32,
        32,
        11008,
        32000,
        False,
    ),  # Llama-2-7B's (full fine-tuning needs more than 80 GB: use --lora-r)
}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: CUDA when a GPU is present, else the CPU",
    )
    parser.add_argument("--model-size", choices=tuple(MODEL_SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=10, help=f"steps per run; the first {WARMUP_STEPS} are not timed")
    parser.add_argument("--micro-batch-size", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=1024)
    parser.add_argument("--conversations", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats of every configuration")
    parser.add_argument(
        "--lora-r", type=int, default=0, help="train LoRA adapters of this rank instead of every weight"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's dense bf16 peak for MFU (default: looked up from the GPU's name)",
    )
    parser.add_argument(
        "--datasets",
        type=Path,
        default=None,
        help="directory of the public samples (default: FLYWHEEL_SHARED_DATASETS or ../shared/datasets)",
    )
    parser.add_argument("--skip-loss-alone", action="store_true", help="skip the loss-only timing at the end")
    return parser.parse_args()


def hh_rlhf_messages(transcript: str) -> list[dict]:
    parts = re.split(r"\n\n(Human|Assistant): ", transcript)
    messages = [
        {"role": "user" if who == "Human" else "assistant", "content": text.strip()}
        for who, text in zip(parts[1::2], parts[2::2])
    ]
    alternating = all(a["role"] != b["role"] for a, b in zip(messages, messages[1:]))
    if (
        not messages
        or not alternating
        or messages[-1]["role"] != "assistant"
        or not all(m["content"] for m in messages)
    ):
        return []
    return messages


def real_conversations(datasets: Path, limit: int) -> list[dict]:
    """hh-rlhf and KdConv interleaved, so any prefix has the mix of short English and long
    Chinese conversations."""
    english, chinese = [], []
    with gzip.open(datasets / "hh-rlhf-harmless-base-test.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            messages = hh_rlhf_messages(json.loads(line)["chosen"])
            if messages:
                english.append({"messages": messages, "task_type": "hh-rlhf"})
    for domain in ("film", "music"):
        with gzip.open(datasets / f"kdconv-{domain}-dev.json.gz", "rt", encoding="utf-8") as handle:
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


def datasets_dir(arguments) -> Path:
    for candidate in (
        arguments.datasets,
        os.environ.get("FLYWHEEL_SHARED_DATASETS"),
        REPO_ROOT.parent / "shared" / "datasets",
    ):
        if candidate and (Path(candidate) / "hh-rlhf-harmless-base-test.jsonl.gz").is_file():
            return Path(candidate)
    sys.exit("the public samples (hh-rlhf, KdConv) were not found: pass --datasets DIR or set FLYWHEEL_SHARED_DATASETS")


def make_model(size: str, workdir: Path) -> tuple[Path, dict]:
    """A model directory of that size (random weights, the tiny tokenizer) and its shape."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.tiny_model import build_tiny_tokenizer, make_tiny_model

    path = workdir / f"model-{size}"
    if MODEL_SIZES[size] is None:
        make_tiny_model(path)
        config = LlamaConfig.from_pretrained(path)
    else:
        hidden, layers, heads, kv_heads, intermediate, vocabulary, tied = MODEL_SIZES[size]
        tokenizer = build_tiny_tokenizer()
        config = LlamaConfig(
            vocab_size=vocabulary,
            hidden_size=hidden,
            intermediate_size=intermediate,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            max_position_embeddings=32768,
            rms_norm_eps=1e-6,
            tie_word_embeddings=tied,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(0)
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = LlamaForCausalLM(config).to(torch.bfloat16)  # bf16 on disk: half the bytes to write and read
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        del model
    parameters = matmul_parameters(config)
    return path, {
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "matmul_parameters": parameters,
        "vocabulary": config.vocab_size,
    }


def matmul_parameters(config) -> int:
    """Weights that take part in a matrix multiplication per token: every layer's projections
    and the output layer (the input embedding is a lookup, and norms are negligible)."""
    hidden, heads, kv_heads = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
    head_dim = hidden // heads
    attention = hidden * head_dim * (heads + 2 * kv_heads) + heads * head_dim * hidden
    mlp = 3 * hidden * config.intermediate_size
    return config.num_hidden_layers * (attention + mlp) + config.vocab_size * hidden


def flops_per_token(shape: dict, context: float) -> float:
    """Model FLOPs of training on one token, forward and backward (PaLM, appendix B):
    6 N for the weight matmuls plus 12 L d T for attention over a context of T tokens. Counted
    on real tokens only, whatever padding or recomputation the hardware also did."""
    return 6 * shape["matmul_parameters"] + 12 * shape["layers"] * shape["hidden"] * context


def bf16_peak_tflops(arguments) -> tuple[float | None, str]:
    import torch

    if arguments.peak_tflops:
        return arguments.peak_tflops, "--peak-tflops"
    if not torch.cuda.is_available():
        return None, "no GPU"
    name = torch.cuda.get_device_name()
    for key, peak in BF16_PEAK_TFLOPS:
        if key in name:
            return peak, name
    return None, f"{name} (not in the table: pass --peak-tflops)"


def main() -> None:
    arguments = parse_arguments()
    if arguments.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: the trainer takes a GPU when it sees one
    import importlib.util

    import torch

    import training.sft
    from training.config import build_config
    from training.metrics import MetricsWriter, read_metrics
    from training.modeling import quiet_transformers
    from training.sft import run_sft
    from training.tokenization import load_tokenizer

    on_gpu = torch.cuda.is_available()
    if arguments.device == "cuda" and not on_gpu:
        sys.exit("--device cuda: torch sees no GPU here")

    class StepClockMetrics(MetricsWriter):
        """The trainer's metrics writer, adding the process CPU time since the previous line (one
        optimizer step, collation included) to every train line."""

        def __init__(self, *positional, **keywords):
            super().__init__(*positional, **keywords)
            self.last_cpu_time = time.process_time()

        def write(self, record):
            now = time.process_time()
            if record.get("kind") == "train":
                record = {**record, "cpu_time_s": now - self.last_cpu_time}
            self.last_cpu_time = now
            super().write(record)

    training.sft.MetricsWriter = StepClockMetrics
    quiet_transformers()
    if not on_gpu:
        torch.set_num_threads(1)  # several threads spin while one waits for a core: CPU time would count the wait

    def step_seconds(line: dict) -> float:
        return line["step_time_s"] if on_gpu else line["cpu_time_s"]

    def train_once(name: str, workdir: Path, model: Path, data: Path, **overrides) -> tuple[list[dict], float | None]:
        """The timed metrics lines of one short run (the same seed, so the same batches every
        run) and its peak GPU memory in bytes."""
        values = {
            "model": str(model),
            "data": str(data),
            "output": str(workdir / name),
            "micro_batch_size": arguments.micro_batch_size,
            "grad_accum": arguments.grad_accum,
            "max_len": arguments.max_len,
            "max_steps": arguments.steps,
            "lr": 1e-4,
            "seed": 1,
            "lora_r": arguments.lora_r,
            "gradient_checkpointing": arguments.gradient_checkpointing,
            **overrides,
        }
        if on_gpu:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        run_sft(build_config(values))
        peak = torch.cuda.max_memory_allocated() if on_gpu else None
        return read_metrics(workdir / name / "metrics.jsonl")[WARMUP_STEPS:], peak

    def summary(runs: list[list[dict]]) -> dict:
        """Per step, the fastest of the repeats (other load on a shared machine only ever adds
        time), then tokens/s over all steps, padding ratio and the median step time."""
        fastest = [min(step_seconds(run[step]) for run in runs) for step in range(len(runs[0]))]
        tokens = [line["tokens"] for line in runs[0]]
        return {
            "tokens_per_s": sum(tokens) / sum(fastest),
            "padding_ratio": statistics.mean(line["padding_ratio"] for line in runs[0]),
            "step_time_s": statistics.median(fastest),
        }

    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        conversations = real_conversations(datasets_dir(arguments), arguments.conversations)
        data = workdir / "train.jsonl"
        data.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations))
        model, shape = make_model(arguments.model_size, workdir)
        lengths = token_lengths(load_tokenizer(str(model)), conversations, arguments.max_len)
        context = sum(n * n for n in lengths) / sum(lengths)  # the mean context a trained token attends over
        peak, peak_source = bf16_peak_tflops(arguments)
        flash = on_gpu and importlib.util.find_spec("flash_attn") is not None
        device = (
            f"cuda: {torch.cuda.get_device_name()} (wall time, bf16)" if on_gpu else "cpu (1 thread, process CPU time)"
        )
        print(
            f"{arguments.model_size} model ({shape['matmul_parameters'] / 1e6:.1f}M matmul parameters, "
            f"vocabulary {shape['vocabulary']}) on {device}; {len(conversations)} real conversations, mean context "
            f"{context:.0f} tokens; micro-batch {arguments.micro_batch_size} x accumulation {arguments.grad_accum}; "
            f"max_len {arguments.max_len}; {arguments.steps} steps per run, first {WARMUP_STEPS} not timed; fastest of "
            f"{arguments.repeats} repeats per step" + (f"; LoRA rank {arguments.lora_r}" if arguments.lora_r else "")
        )
        print(
            "attention: "
            + (
                "flash_attention_2, packed rows as varlen (cu_seqlens)"
                if flash
                else "sdpa, packed rows under a block-diagonal mask"
                + (" (flash-attn is not installed)" if on_gpu else "")
            )
        )
        print(f"bf16 peak for MFU: {f'{peak:g} TFLOP/s ({peak_source})' if peak else f'none ({peak_source})'}")

        configurations = {"padded": {"packing": False}, "packed": {"packing": True}, "naive": {"loss": "naive"}}
        runs: dict[str, list] = {name: [] for name in configurations}
        peaks: dict[str, float] = {}
        for repeat in range(arguments.repeats):  # alternate, so drift on a shared machine hits all alike
            for name, overrides in configurations.items():
                lines, memory = train_once(f"{name}-{repeat}", workdir, model, data, **overrides)
                runs[name].append(lines)
                if memory is not None:
                    peaks[name] = max(peaks.get(name, 0), memory)
        results = {name: summary(runs[name]) for name in configurations}

        unit = "tokens/s" if on_gpu else "tokens/CPU-s"
        print()
        for name in ("padded", "packed"):
            figures = results[name]
            mfu = figures["tokens_per_s"] * flops_per_token(shape, context) / (peak * 1e12) if peak else None
            memory = (
                f"{peaks[name] / 2**30:.2f} GiB"
                if name in peaks
                else f"n/a on the CPU (process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB)"
            )
            print(
                f"{name + (' (baseline)' if name == 'padded' else ''):18} {figures['tokens_per_s']:10.0f} {unit}, "
                f"MFU {f'{100 * mfu:.1f}%' if mfu is not None else 'n/a'}, peak memory {memory}, "
                f"padding ratio {figures['padding_ratio']:.3f}"
            )
        print(f"packed / padded {unit}: {results['packed']['tokens_per_s'] / results['padded']['tokens_per_s']:.2f}x")
        print(f"\nmedian step time (padded), naive loss (baseline): {results['naive']['step_time_s'] * 1000:9.1f} ms")
        print(f"median step time (padded), per_turn loss:         {results['padded']['step_time_s'] * 1000:9.1f} ms")
        print(f"per_turn / naive step time: {results['padded']['step_time_s'] / results['naive']['step_time_s']:.3f}x")

    if not arguments.skip_loss_alone:
        loss_alone = loss_only_seconds(repeats=15, on_gpu=on_gpu)
        print(
            f"\nloss alone, forward+backward on (4, 512, 32000) logits: naive (baseline) {loss_alone['naive'] * 1000:.1f} ms, "
            f"per_turn {loss_alone['per_turn'] * 1000:.1f} ms, ratio {loss_alone['per_turn'] / loss_alone['naive']:.3f}x"
        )


def token_lengths(tokenizer, conversations: list[dict], max_len: int) -> list[int]:
    """Trained tokens of each conversation, as the trainer will see them."""
    from training.data import conversation_from_record
    from training.tokenization import TokenizationReport, tokenize_conversation

    report, lengths = TokenizationReport(), []
    for index, record in enumerate(conversations):
        tokenized = tokenize_conversation(
            tokenizer, conversation_from_record(record, "all", f"line {index}"), max_len, report
        )
        if tokenized is not None:
            lengths.append(len(tokenized))
    return lengths


def loss_only_seconds(repeats: int, on_gpu: bool) -> dict[str, float]:
    """Median time of the loss alone (forward and backward from logits) per mode, modes
    alternating: 4 rows of 512 tokens, a 32k vocabulary, 16 turns."""
    import torch

    from training.loss import IGNORE_INDEX, NO_TURN, sft_loss

    device = "cuda" if on_gpu else "cpu"
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 512, 32000, generator=generator).to(device).requires_grad_()
    labels = torch.randint(0, 32000, (4, 512), generator=generator)
    turn_ids = torch.full((4, 512), NO_TURN)
    for row in range(4):
        for turn in range(4):
            turn_ids[row, 40 + turn * 110 : 100 + turn * 110] = row * 4 + turn
    labels[turn_ids == NO_TURN] = IGNORE_INDEX
    labels, turn_ids = labels.to(device), turn_ids.to(device)
    timings: dict[str, list[float]] = {"naive": [], "per_turn": []}
    clock = time.perf_counter if on_gpu else time.process_time
    for repeat in range(repeats + 1):
        for mode in timings:
            logits.grad = None
            if on_gpu:
                torch.cuda.synchronize()
            started = clock()
            sft_loss(logits, labels, turn_ids, mode=mode, global_denominator=16.0).backward()
            if on_gpu:
                torch.cuda.synchronize()
            if repeat > 0:  # the first round only warms the allocator up
                timings[mode].append(clock() - started)
    return {mode: statistics.median(values) for mode, values in timings.items()}


if __name__ == "__main__":
    main()
