"""The run page: the loss chart tells a dozen task types apart, draws what was measured (no
smoothing) and eval loss as a line; "waiting for a gpu worker" goes once the run has started."""

from __future__ import annotations

import json

import pytest

from flywheel.runs.charts import EVAL, run_chart
from flywheel.runs.metrics_tail import MetricsTail
from flywheel.runs.models import TrainingRun
from flywheel.runs.services import training_run_create
from flywheel.ui.charts import PALETTE
from tests.flywheel.runs.conftest import SMALL_RUN

CHANNELS = [f"type-{n:02d}" for n in range(12)]


def _run(small_version, tiny_model):
    return training_run_create(
        dataset_version_id=small_version.id, base_model_path=str(tiny_model), hyperparameters=SMALL_RUN
    )


def _metrics(run, run_dir, steps: int = 6):
    records = []
    for step in range(1, steps + 1):
        channels = {name: 3.0 - 0.1 * step + 0.01 * n for n, name in enumerate(CHANNELS)}
        records.append(
            {
                "kind": "train",
                "step": step,
                "loss": 3.0 - 0.1 * step,
                "lr": 1e-3,
                "tokens_per_s": 1.0,
                "channels": channels,
            }
        )
        if step % 3 == 0:
            records.append({"kind": "eval", "step": step, "eval_loss": 3.2 - 0.1 * step})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    MetricsTail(run=run, run_dir=run_dir).read()


@pytest.mark.django_db
def test_twelve_task_types_get_twelve_different_colours_and_no_smoothing(small_version, tiny_model, tmp_path):
    run = _run(small_version, tiny_model)
    _metrics(run, tmp_path)
    datasets = {d["label"]: d for d in run_chart(run=run, name="loss")["data"]["datasets"]}
    colours = [datasets[name]["borderColor"] for name in CHANNELS]
    assert len(set(colours)) == 12 and set(colours) <= set(PALETTE)
    assert all(d.get("tension", 0) == 0 for d in datasets.values())


@pytest.mark.django_db
def test_eval_loss_is_drawn_as_a_line_through_its_points(small_version, tiny_model, tmp_path):
    run = _run(small_version, tiny_model)
    _metrics(run, tmp_path)
    chart = run_chart(run=run, name="loss")
    (evaluation,) = [d for d in chart["data"]["datasets"] if d["label"] == EVAL]
    assert evaluation["showLine"] is True and evaluation["spanGaps"] is True
    assert evaluation["data"] == [None, None, pytest.approx(2.9), None, None, pytest.approx(2.6)]


@pytest.mark.django_db
def test_launching_says_launched_not_queued_for_a_gpu_worker(small_version, tiny_model, client, ops_user):
    from flywheel.runs.hyperparameters import defaults

    client.force_login(ops_user)
    form = {
        "dataset_version": small_version.id,
        "base_model_path": str(tiny_model),
        "distributed": "auto",
        **{key: value for key, value in defaults().items() if value is not None},
        "packing": "",
        "gradient_checkpointing": "",
    }
    page = client.post("/runs/new/", form, follow=True).content.decode()
    run = TrainingRun.objects.get()
    assert f"Run #{run.id} is launched." in page and "queued for a gpu worker" not in page
    assert 'id="run-waiting"' in page, "while queued, the status block says it waits for a worker"


@pytest.mark.browser
def test_the_waiting_notice_goes_once_the_run_has_started(small_version, tiny_model, page, log_in, ops_user):
    run = _run(small_version, tiny_model)
    log_in(page, ops_user)
    page.goto(f"/runs/{run.id}/")
    assert page.locator("#run-waiting").is_visible()
    TrainingRun.objects.filter(id=run.id).update(status="running", current_step=1)
    page.wait_for_selector("#run-state:text('running')", timeout=15_000)
    assert page.locator("#run-waiting").count() == 0
    assert "gpu worker" not in page.locator("main").inner_text().split("Settings")[0].lower()
