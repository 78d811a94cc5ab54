"""An ops user launches a run of the tiny model from the browser, watches it finish on a real
gpu worker, and reads the loss chart with a line per task type."""

from __future__ import annotations

import pytest

from flywheel.runs.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_an_ops_user_launches_a_run_watches_it_finish_and_sees_the_loss_per_task_type(
    small_version, tiny_model, start_worker, page, log_in, ops_user
):
    start_worker(queues="gpu", beat=False)
    log_in(page, ops_user)
    page.goto(f"/datasets/{small_version.id}/")
    page.click("#train-on-version")
    page.fill("#id_base_model_path", str(tiny_model))
    for field, value in {
        "max_steps": "8",
        "lr": "0.003",
        "micro_batch_size": "4",
        "save_every": "4",
        "max_len": "256",
    }.items():
        page.fill(f"#id_{field}", value)
    page.click("#launch-run")
    page.wait_for_url("**/runs/*/")
    run = TrainingRun.objects.get()
    assert run.dataset_version_id == small_version.id and run.created_by == ops_user

    page.wait_for_selector("#run-state:text('completed')", timeout=240_000)
    page.wait_for_selector("#chart-loss[data-live='0']", timeout=30_000)
    lines = page.evaluate("""() => {
        const chart = document.getElementById('chart-loss')._chart;
        return chart.data.datasets.map(d => [d.label, d.data.filter(v => v !== null).length]);
    }""")
    points = dict(lines)
    assert set(points) == {"all task types", "math", "qa", "unlabeled", "eval (all task types)"}, (
        "one line per task type"
    )
    assert points["all task types"] == 8 and points["eval (all task types)"] == 1
    assert all(points[task_type] >= 1 for task_type in ("math", "qa", "unlabeled"))
    assert page.locator("#run-checkpoints li").count() >= 1
    assert page.locator("#run-dataset").get_attribute("href") == f"/datasets/{small_version.id}/"
    assert page.problems == []
