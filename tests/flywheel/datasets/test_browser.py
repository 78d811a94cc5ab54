"""Hostile text that reached a dataset (chat content, a version's name, a run's name) stays text
on every dataset and run page."""

from __future__ import annotations

import pytest

from flywheel.datasets.models import DatasetSample
from tests.flywheel.test_access_and_xss import HOSTILE, PAYLOADS, _assert_inert

pytestmark = pytest.mark.browser


@pytest.fixture
def hostile_version(transactional_db, make_user):
    from flywheel.datasets.models import DatasetVersion
    from flywheel.datasets.services import dataset_build_request, dataset_build_run
    from flywheel.pipeline.services import pipeline_run
    from tests.factories import session_with_turns

    session_with_turns(
        [("user", "Why does my page show this? " + HOSTILE), ("assistant", "It is shown as text: " + HOSTILE)],
        external_id="hostile-dataset",
    )
    session_with_turns(
        [("user", "A calm question about tea."), ("assistant", "Green tea is best below boiling.")],
        external_id="calm-dataset",
    )
    pipeline_run(only={"cleaning"})
    build = dataset_build_request(
        config={"cleaning_statuses": ["kept", "flagged"], "eval_fraction": 0}, name=PAYLOADS[1][:120], enqueue=False
    )
    version = DatasetVersion.objects.get(id=dataset_build_run(build_id=build.id)["version_id"])
    assert DatasetSample.objects.filter(version=version, record__icontains="onerror").exists()
    return version


def test_hostile_text_in_a_dataset_and_a_run_executes_nothing(hostile_version, page, log_in, make_user):
    from flywheel.runs.models import TrainingRun

    ops = make_user("ops", "hostile-ops")
    run = TrainingRun.objects.create(
        name=PAYLOADS[0][:120],
        dataset_version=hostile_version,
        base_model_path=PAYLOADS[2][:200],
        error=HOSTILE,
        log_tail=HOSTILE,
        status="failed",
    )
    sample = DatasetSample.objects.filter(version=hostile_version, record__icontains="onerror").first()
    log_in(page, ops)
    responses = []
    for url in (
        "/datasets/",
        f"/datasets/{hostile_version.id}/",
        f"/datasets/{hostile_version.id}/samples/",
        f"/datasets/{hostile_version.id}/samples/{sample.position}/",
        "/runs/",
        f"/runs/new/?version={hostile_version.id}",
        f"/runs/{run.id}/",
    ):
        _assert_inert(page, url, responses)
    assert page.locator("#run-log").inner_text().startswith("<script>")
