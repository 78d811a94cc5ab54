"""Checkpoints are atomic, --resume continues exactly, SIGTERM cancels cleanly.

Kills are real SIGKILLs of a trainer subprocess, placed deterministically by wrapping one trainer
function in the child before calling the ordinary command-line entry point."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from training.checkpoint import latest_checkpoint
from training.cli import main
from training.metrics import read_metrics

TRAINING = [
    "--micro-batch-size",
    "2",
    "--grad-accum",
    "2",
    "--lr",
    "3e-3",
    "--max-steps",
    "8",
    "--save-every",
    "2",
    "--keep-checkpoints",
    "3",
    "--max-len",
    "256",
    "--seed",
    "5",
]

KILL_AFTER_LOGGING_STEP_5 = """
import os, signal, sys
import training.metrics
write = training.metrics.MetricsWriter.write
def write_then_die(self, record):
    write(self, record)
    if record.get("kind") == "train" and record["step"] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
training.metrics.MetricsWriter.write = write_then_die
from training.cli import main
sys.exit(main(sys.argv[1:]))
"""

# A checkpoint file an attacker planted: unpickling it would run a command.
PLANTED = """
import os
class Planted:
    def __reduce__(self):
        return (os.system, ("touch {mark}",))
"""

KILL_BEFORE_PUBLISHING_STEP_4 = """
import os, signal, sys
import training.checkpoint
publish = training.checkpoint.publish_directory
def die_before_publishing_step_4(temporary, final):
    if final.name == "step-4":
        os.kill(os.getpid(), signal.SIGKILL)
    publish(temporary, final)
training.checkpoint.publish_directory = die_before_publishing_step_4
from training.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def train_file(tmp_path_factory, small_conversations):
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in small_conversations))
    return path


@pytest.fixture(scope="module")
def arguments(tiny_model_dir, train_file):
    def sft_arguments(output):
        return ["sft", "--model", str(tiny_model_dir), "--data", str(train_file), "--output", str(output), *TRAINING]

    return sft_arguments


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory, arguments):
    output = tmp_path_factory.mktemp("uninterrupted")
    assert main(arguments(output)) == 0
    return output


@pytest.fixture(scope="module")
def killed_while_writing_step_4(tmp_path_factory, arguments, run_cli):
    output = tmp_path_factory.mktemp("killed-while-writing")
    run_cli(["-c", KILL_BEFORE_PUBLISHING_STEP_4, *arguments(output)], expect=-signal.SIGKILL)
    return output


@pytest.fixture(scope="module")
def killed_after_step_5_and_resumed(tmp_path_factory, arguments, run_cli):
    output = tmp_path_factory.mktemp("killed-and-resumed")
    run_cli(["-c", KILL_AFTER_LOGGING_STEP_5, *arguments(output)], expect=-signal.SIGKILL)
    assert latest_checkpoint(output).name == "step-4"
    run_cli(["-m", "training", *arguments(output), "--resume"])
    return output


def losses(output):
    return [(record["step"], record["loss"]) for record in read_metrics(output / "metrics.jsonl")]


def test_a_run_killed_mid_run_resumes_to_the_same_loss_curve(killed_after_step_5_and_resumed, uninterrupted_run):
    assert losses(killed_after_step_5_and_resumed) == losses(uninterrupted_run)


def test_a_run_killed_mid_run_resumes_from_its_latest_checkpoint(killed_after_step_5_and_resumed):
    result = json.loads((killed_after_step_5_and_resumed / "result.json").read_text())

    assert result["resumed_from"].endswith("step-4")


def test_a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(
    killed_after_step_5_and_resumed, uninterrupted_run
):
    resumed = (killed_after_step_5_and_resumed / "final" / "model.safetensors").read_bytes()

    assert resumed == (uninterrupted_run / "final" / "model.safetensors").read_bytes()


def test_a_kill_during_a_checkpoint_write_leaves_no_checkpoint_that_resume_would_load(killed_while_writing_step_4):
    assert (killed_while_writing_step_4 / "checkpoints" / ".tmp-step-4" / "model.safetensors").is_file()
    assert latest_checkpoint(killed_while_writing_step_4).name == "step-2"


def test_resuming_after_a_kill_during_a_checkpoint_write_gives_the_same_loss_curve(
    killed_while_writing_step_4, uninterrupted_run, arguments, tmp_path, run_cli
):
    output = tmp_path / "run"
    shutil.copytree(killed_while_writing_step_4, output)

    run_cli(["-m", "training", *arguments(output), "--resume"])

    assert losses(output) == losses(uninterrupted_run)
    assert not (output / "checkpoints" / ".tmp-step-4").exists()


def test_a_deepspeed_run_resumes_from_its_zero_checkpoint_to_the_same_loss_curve(
    tiny_model_dir, train_file, tmp_path, run_cli, torchrun
):
    deepspeed_config = tmp_path / "zero2.json"
    deepspeed_config.write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    output = tmp_path / "run"
    arguments = [
        "--model",
        str(tiny_model_dir),
        "--data",
        str(train_file),
        "--output",
        str(output),
        "--micro-batch-size",
        "1",
        "--grad-accum",
        "2",
        "--lr",
        "3e-3",
        "--max-steps",
        "4",
        "--save-every",
        "2",
        "--deepspeed",
        str(deepspeed_config),
    ]
    run_cli(torchrun(*arguments))
    uninterrupted = losses(output)
    # As if killed after step 3: the step-4 checkpoint and the final model never got written.
    shutil.rmtree(output / "checkpoints" / "step-4")
    shutil.rmtree(output / "final")

    run_cli(torchrun(*arguments, "--resume"))

    assert losses(output) == uninterrupted
    assert json.loads((output / "result.json").read_text())["resumed_from"].endswith("step-2")

    # A planted ZeRO shard is refused before DeepSpeed unpickles it.
    mark = tmp_path / "pwned"
    namespace: dict = {}
    exec(PLANTED.format(mark=mark), namespace)
    shutil.rmtree(output / "checkpoints" / "step-4")
    shutil.rmtree(output / "final")
    shard = next((output / "checkpoints" / "step-2" / "deepspeed").glob("*optim_states.pt"))
    torch.save({"state": namespace["Planted"]()}, shard)
    refused = run_cli(torchrun(*arguments, "--resume"), expect=None)
    assert refused.returncode != 0 and "UnpicklingError" in refused.stderr and not mark.exists()


def test_latest_checkpoint_ignores_unfinished_directories(tmp_path):
    for name in ("step-2", ".tmp-step-4", "step-6"):
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
    (tmp_path / "checkpoints" / "step-2" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoints" / ".tmp-step-4" / "trainer_state.json").write_text("{}")

    assert latest_checkpoint(tmp_path).name == "step-2"


def test_resume_refuses_a_checkpoint_trained_on_different_data(
    uninterrupted_run, tiny_model_dir, tmp_path, write_jsonl, capsys
):
    output = tmp_path / "run"
    shutil.copytree(uninterrupted_run, output)
    other = write_jsonl(
        tmp_path / "other.jsonl",
        [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}],
    )

    status = main(
        ["sft", "--model", str(tiny_model_dir), "--data", str(other), "--output", str(output), *TRAINING, "--resume"]
    )

    assert status == 2
    assert "the training data (after tokenization) differs" in capsys.readouterr().err


def test_resume_without_any_checkpoint_starts_from_the_beginning(tiny_model_dir, train_file, tmp_path):
    output = tmp_path / "run"

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
                "--max-steps",
                "1",
                "--resume",
            ]
        )
        == 0
    )

    result = json.loads((output / "result.json").read_text())
    assert (result["status"], result["steps"], result["resumed_from"]) == ("completed", 1, None)


def test_sigterm_stops_the_run_cleanly_with_a_cancelled_result_and_no_checkpoint(
    tiny_model_dir, train_file, tmp_path, repo_root, trainer_env
):
    output = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "training",
            "sft",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(train_file),
            "--output",
            str(output),
            "--max-steps",
            "100000",
        ],
        cwd=repo_root,
        env=trainer_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not (output / "metrics.jsonl").is_file() or not (output / "metrics.jsonl").read_text().strip():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never logged a step"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()

    result = json.loads((output / "result.json").read_text())
    assert (result["status"], result["final_model"]) == ("cancelled", None)
    assert 0 < result["steps"] < 100000
    assert not (output / "checkpoints").exists()


@pytest.mark.parametrize("state_file", ["optimizer.pt", "scheduler.pt", "rng-rank0.pt"])
def test_a_planted_checkpoint_file_is_refused_at_resume_and_runs_no_code(
    uninterrupted_run, arguments, tmp_path, state_file
):
    import pickle

    output = tmp_path / "planted"
    shutil.copytree(uninterrupted_run, output)
    mark = tmp_path / "pwned"
    namespace: dict = {}
    exec(PLANTED.format(mark=mark), namespace)  # builds the attacker's object in this test only
    shutil.rmtree(latest_checkpoint(output))  # as if killed before the last checkpoint
    shutil.rmtree(output / "final")
    torch.save({"state": namespace["Planted"]()}, latest_checkpoint(output) / state_file)

    with pytest.raises(pickle.UnpicklingError, match=state_file):
        main([*arguments(output), "--resume"])
    assert not mark.exists()
