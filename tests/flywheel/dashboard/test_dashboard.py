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


@pytest.mark.django_db
def test_each_rate_point_carries_its_number_of_ratings_and_a_wilson_interval():
    ingest_batch(**logs("few", "v1", [1, 1, 1, 1, -1], day_offset=1))
    ingest_batch(**logs("many", "v1", [1] * 80 + [-1] * 20))
    stats_rollup()
    datasets = {d["label"]: d for d in dashboard_figures(days=7)["rate_chart"]["data"]["datasets"]}
    rate, low, high = datasets["v1"], datasets["v1 low"], datasets["v1 high"]
    assert rate["data"][-2:] == [0.8, 0.8] and rate["counts"][-2:] == [5, 100]
    assert rate["pointRadius"][-2] < rate["pointRadius"][-1], "the point resting on more ratings is drawn bigger"
    assert "5 ratings" in rate["pointNotes"][-2] and "100 ratings" in rate["pointNotes"][-1]
    assert (low["data"][-2], high["data"][-2]) == (0.376, 0.964), "the same 80% on five ratings is barely known"
    assert high["data"][-1] - low["data"][-1] < 0.2
    assert low["band"] and high["band"] and high["fill"] == list(datasets).index("v1 low")


def test_the_wilson_interval_matches_scipys():
    from scipy.stats import binomtest

    from flywheel.ui.charts import wilson_interval

    for up, total in [(0, 1), (1, 1), (4, 5), (50, 100), (999, 1000), (0, 40)]:
        expected = binomtest(up, total).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(up, total)
        assert low == pytest.approx(expected.low, abs=1e-3) and high == pytest.approx(expected.high, abs=1e-3)
    assert wilson_interval(0, 0) is None


@pytest.mark.browser
def test_hovering_a_rate_point_tells_how_many_ratings_it_rests_on(page, log_in, engineer):
    ingest_batch(**logs("a", "v1", [1, 1, 1, 1, -1]))
    stats_rollup()
    log_in(page, engineer)
    page.goto("/dashboard/")
    page.wait_for_function("document.querySelector('canvas[data-chart=rate-chart]').dataset.rendered === '1'")
    legend = page.evaluate(
        """() => Chart.getChart(document.querySelector('canvas[data-chart=rate-chart]'))
            .legend.legendItems.map(item => item.text)"""
    )
    assert legend == ["v1"], "the interval's edges stay out of the legend"
    point = page.evaluate(
        """() => { const chart = Chart.getChart(document.querySelector('canvas[data-chart=rate-chart]'));
            const p = chart.getDatasetMeta(0).data[chart.data.labels.length - 1];
            const box = chart.canvas.getBoundingClientRect(); return {x: box.left + p.x, y: box.top + p.y}; }"""
    )
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function(
        "Chart.getChart(document.querySelector('canvas[data-chart=rate-chart]')).tooltip.opacity > 0"
    )
    tooltip = page.evaluate(
        """() => { const t = Chart.getChart(document.querySelector('canvas[data-chart=rate-chart]')).tooltip;
            return t.body.map(b => [...b.lines, ...b.after].join(' ')).join(' | '); }"""
    )
    assert "5 ratings" in tooltip and "interval 0.38–0.96" in tooltip and "low" not in tooltip
    assert page.problems == []
