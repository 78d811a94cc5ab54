"""Launching a run: the form with its explained defaults, the checks before a GPU is tied up,
the run directory the worker writes, the metrics tail, cancel before start, and the charts."""

from __future__ import annotations

import json

import pytest

from flywheel.runs.charts import run_chart
from flywheel.runs.execution import run_directory_prepare
from flywheel.runs.hyperparameters import defaults, hyperparameters_clean
from flywheel.runs.metrics_tail import MetricsTail
from flywheel.runs.models import RunMetric, TrainingRun
from flywheel.runs.services import base_model_check, training_run_cancel, training_run_create
from tests.flywheel.runs.conftest import SMALL_RUN

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client, ops_user):
    client.force_login(ops_user)
    return client


def test_the_form_shows_each_default_with_the_reason_for_it(small_version, ops_client):
    page = ops_client.get(f"/runs/new/?version={small_version.id}").content.decode()
    for text in (
        "Learning rate (default 2e-05)",
        "1e-5 to 3e-5",
        "Warmup share (default 0.05)",
        "5-10%",
        "Micro-batch (default 1)",
        "Max length (default 4096)",
        "ZeRO-2",
        "Cosine decay",
        "Padding (off) is the default",
    ):
        assert text in page, text


def test_a_small_vertical_set_gets_three_epochs_and_a_large_one_gets_one():
    assert defaults(train_conversations=800)["epochs"] == 3
    assert defaults(train_conversations=50_000)["epochs"] == 1


def test_the_form_suggests_three_epochs_for_the_small_version_it_was_opened_from(small_version, ops_client):
    page = ops_client.get(f"/runs/new/?version={small_version.id}").content.decode()
    assert 'name="epochs" value="3"' in page


def test_posting_the_form_queues_a_run_on_the_gpu_queue(small_version, tiny_model, ops_client):
    form = {
        "dataset_version": small_version.id,
        "base_model_path": str(tiny_model),
        "distributed": "auto",
        **{key: value for key, value in defaults().items() if value is not None},
        "packing": "",
    }
    form["gradient_checkpointing"] = ""
    response = ops_client.post("/runs/new/", form)
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
    assert run.job.queue == "gpu" and run.job.kind == "runs.train"
    assert run.hyperparameters["lr"] == 2e-5 and run.hyperparameters["packing"] is False


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lr": 0}, "lr must be positive"),
        ({"warmup_ratio": 1.5}, "warmup_ratio must be in"),
        ({"loss": "mean"}, "not a valid choice"),
        ({"micro_batch_size": 0}, "micro_batch_size must be a positive integer"),
        ({"learning_rate": 1e-5}, "unknown training setting"),
    ],
)
def test_settings_the_trainer_would_refuse_are_refused_before_launch(values, message):
    with pytest.raises(ValueError, match=message):
        hyperparameters_clean(values)


def test_a_base_model_outside_the_model_directories_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outside the model directories"):
        base_model_check(str(tmp_path))


def test_a_base_model_directory_without_a_config_is_refused(tiny_model):
    empty = tiny_model.parent / "empty-model"
    empty.mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="no config.json"):
        base_model_check(str(empty))


def test_a_base_model_with_an_unreadable_config_is_refused(tiny_model):
    broken = tiny_model.parent / "broken-model"
    broken.mkdir(exist_ok=True)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot be loaded"):
        base_model_check(str(broken))


def test_the_run_directory_holds_the_versions_splits_and_a_config_the_trainer_accepts(
    small_version, tiny_model, tmp_path
):
    from training.config import build_config, config_from_file

    run = TrainingRun(id=1, dataset_version=small_version, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN)
    marker = run_directory_prepare(run, tmp_path, processes=1)
    assert marker["train"] == small_version.train_count == len((tmp_path / "train.jsonl").read_text().splitlines())
    assert marker["eval"] == small_version.eval_count == len((tmp_path / "eval.jsonl").read_text().splitlines())
    values, directory = config_from_file(tmp_path / "config.json")
    config = build_config(values, directory)
    assert (config.supervise, config.resume, config.max_steps, config.deepspeed) == ("flagged", "auto", 12, None)


def test_several_gpus_get_deepspeed_zero2_unless_plain_data_parallel_was_chosen(small_version, tiny_model, tmp_path):
    run = TrainingRun(id=1, dataset_version=small_version, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN)
    run_directory_prepare(run, tmp_path / "auto", processes=8)
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["deepspeed"]["zero_optimization"]["stage"] == 2
    run.distributed = "ddp"
    run_directory_prepare(run, tmp_path / "ddp", processes=8)
    assert "deepspeed" not in json.loads((tmp_path / "ddp" / "config.json").read_text())


def _metrics_file(run_dir, records):
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _train(step, loss):
    return {"kind": "train", "step": step, "loss": loss, "lr": 1e-3, "tokens_per_s": 100.0, "channels": {"qa": loss}}


def test_tailing_metrics_twice_writes_each_step_once(small_version, tiny_model, tmp_path):
    run = training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN
    )
    _metrics_file(
        tmp_path, [_train(1, 3.0), _train(2, 2.5), {"kind": "eval", "step": 2, "eval_loss": 2.7, "eval_channels": {}}]
    )
    MetricsTail(run=run, run_dir=tmp_path).read()
    MetricsTail(run=run, run_dir=tmp_path).read()
    assert list(RunMetric.objects.filter(run=run).order_by("kind", "step").values_list("kind", "step")) == [
        ("eval", 2),
        ("train", 1),
        ("train", 2),
    ]


def test_steps_logged_again_after_a_resume_replace_the_earlier_ones(small_version, tiny_model, tmp_path):
    run = training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN
    )
    _metrics_file(
        tmp_path, [_train(1, 3.0), _train(2, 2.5), _train(3, 2.0), {"kind": "resumed", "step": 2}, _train(3, 1.9)]
    )
    tail = MetricsTail(run=run, run_dir=tmp_path)
    tail.read()
    assert list(RunMetric.objects.filter(run=run).order_by("step").values_list("step", "loss")) == [
        (1, 3.0),
        (2, 2.5),
        (3, 1.9),
    ]
    assert tail.run_fields()["last_loss"] == 1.9


def test_a_line_cut_by_a_kill_is_skipped_and_the_rest_is_read(small_version, tiny_model, tmp_path):
    run = training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN
    )
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps(_train(1, 3.0))
        + "\n"
        + '{"kind": "train", "st'
        + json.dumps({"kind": "resumed", "step": 0})
        + "\n"
        + json.dumps(_train(1, 2.9))
        + "\n"
    )
    tail = MetricsTail(run=run, run_dir=tmp_path)
    tail.read()
    assert tail.skipped_lines == 1 and RunMetric.objects.get(run=run).loss == 2.9


def test_cancelling_a_run_that_has_not_started_ends_it_at_once(small_version, tiny_model, ops_user):
    run = training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN
    )
    run = training_run_cancel(run=run, user=ops_user)
    assert run.status == "cancelled" and run.job.status == "cancelled"


def test_the_loss_chart_has_a_line_per_task_type_and_stays_live_until_the_run_ends(small_version, tiny_model, tmp_path):
    run = training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN
    )
    _metrics_file(
        tmp_path,
        [{**_train(1, 3.0), "channels": {"qa": 3.1, "math": 2.9}}, {**_train(2, 2.0), "channels": {"qa": 2.2}}],
    )
    MetricsTail(run=run, run_dir=tmp_path).read()
    chart = run_chart(run=run, name="loss")
    lines = {dataset["label"]: dataset["data"] for dataset in chart["data"]["datasets"]}
    assert lines == {"all task types": [3.0, 2.0], "math": [2.9, None], "qa": [3.1, 2.2]}
    assert chart["live"] is True
    TrainingRun.objects.filter(id=run.id).update(status="completed")
    run.refresh_from_db()
    assert run_chart(run=run, name="loss")["live"] is False
