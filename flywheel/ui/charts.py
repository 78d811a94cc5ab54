"""Chart.js configurations built on the server and handed to the page as JSON (json_script);
static/js/app.js draws every `<canvas data-chart="ID">` from the JSON block with that ID."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PALETTE = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#3949ab", "#c0ca33"]


def line_chart(
    labels: Sequence, series: dict[str, Sequence], *, y_title: str = "", y_max: float | None = None, x_title: str = ""
) -> dict:
    datasets = [
        {
            "label": name,
            "data": list(values),
            "borderColor": PALETTE[i % len(PALETTE)],
            "backgroundColor": PALETTE[i % len(PALETTE)],
            "tension": 0.2,
            "spanGaps": True,
            "pointRadius": 2,
        }
        for i, (name, values) in enumerate(series.items())
    ]
    y_axis = {"beginAtZero": True, "title": {"display": bool(y_title), "text": y_title}}
    if y_max is not None:
        y_axis["max"] = y_max
    return {
        "type": "line",
        "data": {"labels": list(labels), "datasets": datasets},
        "options": {"scales": {"y": y_axis, "x": {"title": {"display": bool(x_title), "text": x_title}}}},
    }


def bar_chart(
    labels: Sequence, series: dict[str, Sequence], *, stacked: bool = False, horizontal: bool = False
) -> dict:
    datasets = [
        {"label": name, "data": list(values), "backgroundColor": PALETTE[i % len(PALETTE)]}
        for i, (name, values) in enumerate(series.items())
    ]
    options = {"scales": {"x": {"stacked": stacked}, "y": {"stacked": stacked, "beginAtZero": True}}}
    if horizontal:
        options["indexAxis"] = "y"
    return {"type": "bar", "data": {"labels": list(labels), "datasets": datasets}, "options": options}


def counts_chart(pairs: Iterable[tuple[str, int]], *, label: str = "count") -> dict:
    pairs = list(pairs)
    return bar_chart([name for name, _ in pairs], {label: [count for _, count in pairs]}, horizontal=True)
