"""The dashboard: daily figures folded in incrementally (never twice), per-model thumbs-up
rates, and charts drawn in the browser under the CSP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from flywheel.dashboard.models import DailyStats
from flywheel.dashboard.selectors import dashboard_figures
from flywheel.dashboard.services import stats_are_behind, stats_rollup
from flywheel.ingest.services import ingest_batch


def logs(prefix: str, version: str, ratings: list[int], day_offset: int = 0):
    when = (timezone.now() - timedelta(days=day_offset)).isoformat()
    sessions, feedback = [], []
    for i, rating in enumerate(ratings):
        sid = f"{prefix}-{i}"
        sessions.append(
            {
                "id": sid,
                "model_version": version,
                "started_at": when,
                "messages": [
                    {"id": f"{sid}-u", "role": "user", "content": "q", "created_at": when},
                    {"id": f"{sid}-a", "role": "assistant", "content": "a", "created_at": when},
                ],
            }
        )
        feedback.append({"id": f"{sid}-f", "message_id": f"{sid}-a", "rating": rating, "created_at": when})
    return {"sessions": sessions, "feedback": feedback}


@pytest.mark.django_db
def test_the_rollup_counts_each_row_once_however_often_it_runs():
    ingest_batch(**logs("a", "v1", [1, 1, -1]))
    assert stats_are_behind()
    stats_rollup()
    stats_rollup()
    assert not stats_are_behind()
    row = DailyStats.objects.get(model_version="v1")
    assert (row.sessions, row.messages, row.thumbs_up, row.thumbs_down) == (3, 6, 2, 1)


@pytest.mark.django_db
def test_new_data_after_a_rollup_is_added_to_the_existing_figures():
    ingest_batch(**logs("a", "v1", [1]))
    stats_rollup()
    ingest_batch(**logs("b", "v1", [-1, -1]))
    stats_rollup()
    row = DailyStats.objects.get(model_version="v1")
    assert (row.sessions, row.thumbs_up, row.thumbs_down) == (3, 1, 2)


@pytest.mark.django_db
def test_the_thumbs_up_rate_is_charted_per_model_version_per_day():
    ingest_batch(**logs("old", "v1", [1, -1], day_offset=2))
    ingest_batch(**logs("new", "v2", [1, 1, 1, -1]))
    stats_rollup()
    figures = dashboard_figures(days=7)
    series = {d["label"]: d["data"] for d in figures["rate_chart"]["data"]["datasets"]}
    assert series["v1"][-3] == 0.5 and series["v2"][-1] == 0.75
    assert figures["totals"]["thumbs_up"] == 4 and figures["thumbs_up_rate"] == round(4 / 6, 3)


@pytest.mark.django_db
def test_the_dashboard_page_shows_totals_and_recent_jobs(client, engineer):
    ingest_batch(**logs("a", "v1", [1, -1]))
    stats_rollup()
    client.force_login(engineer)
    page = client.get("/dashboard/").content.decode()
    assert 'id="stat-sessions">2<' in page and 'data-chart="rate-chart"' in page


@pytest.mark.browser
def test_the_charts_render_in_the_browser_without_csp_violations(page, log_in, engineer):
    ingest_batch(**logs("a", "v1", [1, -1, 1]))
    stats_rollup()
    log_in(page, engineer)
    response = page.goto("/dashboard/")
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    page.wait_for_function("document.querySelector('canvas[data-chart=rate-chart]').dataset.rendered === '1'")
    assert (
        page.evaluate("Chart.getChart(document.querySelector('canvas[data-chart=rate-chart]')).data.datasets[0].label")
        == "v1"
    )
    assert page.problems == []
