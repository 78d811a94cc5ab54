"""LoRA (peft) on the tiny model: it trains, the final model is merged into plain Hugging Face
weights, resume continues exactly, and the loss keeps its guarantees: one step's update is the
same however the global batch is cut (one micro-batch, accumulation, packing)."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from training.cli import main
from training.metrics import read_metrics

LORA = ["--lora-r", "4", "--lora-alpha", "8"]
SCHEDULE = [
    "--micro-batch-size",
    "2",
    "--grad-accum",
    "2",
    "--lr",
    "1e-2",
    "--max-steps",
    "6",
    "--save-every",
    "2",
    "--keep-checkpoints",
    "5",
    "--max-len",
    "256",
    "--seed",
    "3",
]
TRAINING = [*SCHEDULE, *LORA]


@pytest.fixture(scope="module")
def train_file(tmp_path_factory, small_conversations):
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in small_conversations))
    return path


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_model_dir, train_file):
    output = tmp_path_factory.mktemp("lora")
    assert (
        main(["sft", "--model", str(tiny_model_dir), "--data", str(train_file), "--output", str(output), *TRAINING])
        == 0
    )
    return output


def test_lora_trains_and_the_loss_falls(lora_run):
    losses = [line["loss"] for line in read_metrics(lora_run / "metrics.jsonl")]

    assert len(losses) == 6 and losses[-1] < losses[0]


def test_a_lora_checkpoint_holds_the_adapter_not_the_whole_model(lora_run):
    checkpoint = lora_run / "checkpoints" / "step-2"

    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()
    assert all("lora_" in name for name in load_file(checkpoint / "adapter_model.safetensors"))


def test_the_final_model_is_merged_and_loads_without_peft(lora_run, tiny_model_dir):
    final = load_file(lora_run / "final" / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")

    assert set(final) == set(base)  # plain weight names: no lora_A / lora_B left
    assert not torch.equal(
        final["model.layers.0.self_attn.q_proj.weight"], base["model.layers.0.self_attn.q_proj.weight"]
    )
    assert torch.equal(final["model.norm.weight"], base["model.norm.weight"])  # LoRA leaves the norms alone
    assert AutoModelForCausalLM.from_pretrained(lora_run / "final").config.model_type == "llama"


def test_a_lora_run_resumed_after_a_kill_ends_with_the_same_weights(lora_run, tiny_model_dir, train_file, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(lora_run, output)
    # As if killed after step 5: the step-6 checkpoint, the final model and the result never got written.
    for leftover in ("checkpoints/step-6", "final"):
        shutil.rmtree(output / leftover)
    (output / "result.json").unlink()

    assert (
        main(
            [
                "sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(train_file),
                "--output",
                str(output),
                *TRAINING,
                "--resume",
            ]
        )
        == 0
    )

    assert json.loads((output / "result.json").read_text())["resumed_from"].endswith("step-4")
    assert [line["loss"] for line in read_metrics(output / "metrics.jsonl")] == [
        line["loss"] for line in read_metrics(lora_run / "metrics.jsonl")
    ]
    assert (output / "final" / "model.safetensors").read_bytes() == (
        lora_run / "final" / "model.safetensors"
    ).read_bytes()


def test_resume_refuses_a_lora_checkpoint_for_a_full_fine_tune(lora_run, tiny_model_dir, train_file, tmp_path, capsys):
    output = tmp_path / "run"
    shutil.copytree(lora_run, output)
    shutil.rmtree(output / "final")
    status = main(
        [
            "sft",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(train_file),
            "--output",
            str(output),
            *SCHEDULE,
            "--resume",
        ]
    )

    assert status == 2 and "the LoRA rank differs" in capsys.readouterr().err


ONE_SGD_STEP = [
    "--optimizer",
    "sgd",
    "--lr",
    "1.0",
    "--lr-scheduler",
    "constant",
    "--warmup-ratio",
    "0",
    "--max-grad-norm",
    "0",
    "--max-steps",
    "1",
    "--max-len",
    "256",
    *LORA,
]
LAYOUTS = {
    "one micro-batch": ["--micro-batch-size", "8", "--grad-accum", "1"],
    "eight accumulation steps": ["--micro-batch-size", "1", "--grad-accum", "8"],
    "packed micro-batches": ["--micro-batch-size", "4", "--grad-accum", "2", "--packing"],
}


@pytest.fixture(scope="module")
def one_lora_step(tmp_path_factory, tiny_model_dir, train_file):
    """Merged weights after one plain SGD step (lr 1, no clipping) in each layout."""
    weights = {}
    for name, layout in LAYOUTS.items():
        output = tmp_path_factory.mktemp("lora-step")
        assert (
            main(
                [
                    "sft",
                    "--model",
                    str(tiny_model_dir),
                    "--data",
                    str(train_file),
                    "--output",
                    str(output),
                    *ONE_SGD_STEP,
                    *layout,
                ]
            )
            == 0
        )
        weights[name] = load_file(output / "final" / "model.safetensors")
    return weights


@pytest.mark.parametrize("layout", ["eight accumulation steps", "packed micro-batches"])
def test_one_lora_step_is_the_same_however_the_global_batch_is_cut(one_lora_step, layout, tiny_model_dir):
    reference = one_lora_step["one micro-batch"]
    base = load_file(tiny_model_dir / "model.safetensors")
    moved = [name for name in reference if not torch.equal(reference[name], base[name])]

    assert moved, "the step changed no weight"
    for name in reference:
        torch.testing.assert_close(one_lora_step[layout][name], reference[name], rtol=1e-4, atol=1e-6)
