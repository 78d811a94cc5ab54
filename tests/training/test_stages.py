"""A plan of stages: each stage from the previous stage's weights, metrics and checkpoints named by
stage, result.json listing the stages, and --resume continuing mid-plan to the very weights an
uninterrupted plan reaches. A plan of one stage trains exactly what a plain run trains.

Interruptions are simulated by removing what a killed trainer would not have written yet (later
checkpoints, stage records, final model); real kills are tested in test_resume_and_cancel.py."""

import json
import shutil

import pytest
from transformers import AutoModelForCausalLM

from training.cli import main
from training.config import ConfigError, build_config
from training.contract import latest_checkpoint
from training.metrics import read_metrics

TRAINING = [
    "--micro-batch-size",
    "2",
    "--grad-accum",
    "1",
    "--lr",
    "3e-3",
    "--save-every",
    "2",
    "--keep-checkpoints",
    "10",
    "--max-len",
    "256",
    "--seed",
    "5",
]


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory, small_conversations):
    """A run directory with two stages' data and a config.json naming them."""
    run = tmp_path_factory.mktemp("plan")
    (run / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in small_conversations[:4]))
    (run / "b.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in small_conversations[4:]))
    return run


def plan_config(plan_dir, tiny_model_dir, output):
    config = {
        "model": str(tiny_model_dir),
        "output": str(output),
        "stages": [
            {"name": "code", "data": "a.jsonl", "max_steps": 3},
            {"name": "general", "data": "b.jsonl", "max_steps": 4, "lr": 2e-3},
        ],
    }
    path = plan_dir / f"config-{output.name}.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def uninterrupted(plan_dir, tiny_model_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("uninterrupted")
    assert main(["sft", "--config", str(plan_config(plan_dir, tiny_model_dir, output)), *TRAINING]) == 0
    return output


def lines(output, kind):
    return [
        line for line in map(json.loads, (output / "metrics.jsonl").read_text().splitlines()) if line["kind"] == kind
    ]


def test_metrics_lines_count_steps_across_the_plan_and_name_their_stage(uninterrupted):
    train = lines(uninterrupted, "train")

    assert [line["step"] for line in train] == [1, 2, 3, 4, 5, 6, 7]
    assert [(line["stage"], line["stage_number"], line["stage_step"]) for line in train] == [
        ("code", 1, 1),
        ("code", 1, 2),
        ("code", 1, 3),
        ("general", 2, 1),
        ("general", 2, 2),
        ("general", 2, 3),
        ("general", 2, 4),
    ]


def test_each_stage_starts_a_fresh_schedule_with_its_own_learning_rate(uninterrupted):
    lr = {line["step"]: line["lr"] for line in lines(uninterrupted, "train")}

    assert lr[1] == lr[4] == 0.0  # both warm up from zero
    assert max(lr[s] for s in (2, 3)) <= 3e-3 and max(lr[s] for s in (5, 6, 7)) <= 2e-3 < max(lr[s] for s in (2, 3))


def test_checkpoints_are_named_with_their_stage(uninterrupted):
    names = sorted(path.name for path in (uninterrupted / "checkpoints").iterdir())

    assert names == ["stage1-code-step-2", "stage2-general-step-2", "stage2-general-step-4"]


def test_result_json_lists_each_stage_with_status_steps_losses_and_model(uninterrupted):
    result = json.loads((uninterrupted / "result.json").read_text())
    train = lines(uninterrupted, "train")

    assert (result["status"], result["steps"], result["total_steps"]) == ("completed", 7, 7)
    code, general = result["stages"]
    assert (code["name"], code["status"], code["steps"], code["first_loss"], code["last_loss"]) == (
        "code",
        "completed",
        3,
        train[0]["loss"],
        train[2]["loss"],
    )
    assert (general["name"], general["status"], general["steps"], general["first_loss"], general["last_loss"]) == (
        "general",
        "completed",
        4,
        train[3]["loss"],
        train[6]["loss"],
    )
    assert code["final_model"] == str(uninterrupted / "stages" / "1-code")
    assert general["final_model"] == result["final_model"] == str(uninterrupted / "final")
    assert AutoModelForCausalLM.from_pretrained(code["final_model"]).config.model_type == "llama"


def test_a_one_stage_plan_trains_exactly_what_a_plain_run_trains(uninterrupted, plan_dir, tiny_model_dir, tmp_path):
    assert (
        main(
            [
                "sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(plan_dir / "a.jsonl"),
                "--output",
                str(tmp_path / "plain"),
                "--max-steps",
                "3",
                *TRAINING,
            ]
        )
        == 0
    )

    plain = (tmp_path / "plain" / "final" / "model.safetensors").read_bytes()
    assert plain == (uninterrupted / "stages" / "1-code" / "model.safetensors").read_bytes()
    assert not (tmp_path / "plain" / "stages").exists()
    assert all("stage" not in line for line in lines(tmp_path / "plain", "train"))
    assert latest_checkpoint(tmp_path / "plain").name == "step-2"


def curve(output):
    return [(line["step"], line["stage"], line["loss"]) for line in read_metrics(output / "metrics.jsonl")]


def interrupted_copy(uninterrupted, tmp_path, *, keep_checkpoints, keep_stages):
    """The run directory as a trainer killed at that point would have left it."""
    output = tmp_path / "run"
    shutil.copytree(uninterrupted, output)
    for path in (output / "checkpoints").iterdir():
        if path.name not in keep_checkpoints:
            shutil.rmtree(path)
    for path in (output / "stages").iterdir():
        if path.name not in keep_stages:
            shutil.rmtree(path)
    shutil.rmtree(output / "final")
    (output / "result.json").unlink()
    return output


@pytest.mark.parametrize(
    "keep_checkpoints, keep_stages, resumed_from",
    [
        (["stage1-code-step-2"], [], "stage1-code-step-2"),  # killed in stage 1
        (["stage1-code-step-2"], ["1-code"], None),  # killed between the stages
        (["stage1-code-step-2", "stage2-general-step-2"], ["1-code"], "stage2-general-step-2"),  # killed in stage 2
    ],
    ids=["in stage 1", "between stages", "in stage 2"],
)
def test_a_plan_resumed_mid_plan_reaches_the_same_final_weights(
    uninterrupted, plan_dir, tiny_model_dir, tmp_path, keep_checkpoints, keep_stages, resumed_from
):
    output = interrupted_copy(uninterrupted, tmp_path, keep_checkpoints=keep_checkpoints, keep_stages=keep_stages)

    assert main(["sft", "--config", str(plan_config(plan_dir, tiny_model_dir, output)), *TRAINING, "--resume"]) == 0

    result = json.loads((output / "result.json").read_text())
    assert result["status"] == "completed" and [stage["status"] for stage in result["stages"]] == ["completed"] * 2
    assert (result["resumed_from"] or "").endswith(resumed_from or "") and bool(result["resumed_from"]) == bool(
        resumed_from
    )
    assert curve(output) == curve(uninterrupted)
    assert (output / "final" / "model.safetensors").read_bytes() == (
        uninterrupted / "final" / "model.safetensors"
    ).read_bytes()


@pytest.mark.parametrize(
    "stages, message",
    [
        ([], "non-empty list"),
        ([{"name": "a"}], "data .* is required"),
        ([{"name": "a/b", "data": "x"}], "name must be"),
        ([{"name": "a", "data": "x"}, {"name": "a", "data": "y"}], "used by an earlier stage"),
        ([{"name": "a", "data": "x", "warmup": 1}], "unknown field"),
        ([{"name": "a", "data": "x", "lr": 0}], "lr must be a positive number"),
    ],
)
def test_a_plan_the_trainer_cannot_run_is_refused_naming_the_stage(stages, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"model": "m", "output": "o", "stages": stages})


def test_data_is_given_either_at_the_top_or_per_stage():
    with pytest.raises(ConfigError, match="not both"):
        build_config({"model": "m", "output": "o", "data": "d", "stages": [{"name": "a", "data": "x"}]})


def test_stages_can_be_given_as_json_on_the_command_line(tmp_path):
    from training.cli import build_parser, config_from_arguments

    arguments = build_parser().parse_args(
        [
            "sft",
            "--model",
            "m",
            "--output",
            str(tmp_path),
            "--stages",
            '[{"name": "a", "data": "a.jsonl", "epochs": 2}]',
        ]
    )
    assert config_from_arguments(arguments).stages == [{"name": "a", "data": "a.jsonl", "epochs": 2}]
