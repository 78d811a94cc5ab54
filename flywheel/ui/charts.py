"""Chart.js configurations built on the server and handed to the page as JSON (json_script);
static/js/app.js draws every `<canvas data-chart="ID">` from the JSON block with that ID."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Twelve colours told apart at a glance (Kelly's colours of maximum contrast, less white, black
# and the near-duplicates): a run's loss chart has a line per task type, up to a dozen. Black is
# kept for the line a chart is about (the run's overall loss). Every pair is at least ΔE 25 apart
# (CIE76), which tests/flywheel/ui/test_charts.py checks.
PALETTE = [
    "#0067A5",  # blue
    "#F38400",  # orange
    "#008856",  # green
    "#BE0032",  # red
    "#875692",  # purple
    "#A1CAF1",  # light blue
    "#E68FAC",  # pink
    "#C2B280",  # buff
    "#848482",  # grey
    "#F3C300",  # yellow
    "#882D17",  # brown
    "#8DB600",  # yellow-green
]


def line_chart(
    labels: Sequence, series: dict[str, Sequence], *, y_title: str = "", y_max: float | None = None, x_title: str = ""
) -> dict:
    datasets = [
        {
            "label": name,
            "data": list(values),
            "borderColor": PALETTE[i % len(PALETTE)],
            "backgroundColor": PALETTE[i % len(PALETTE)],
            # Straight segments: a smoothed curve draws values that were never measured.
            "tension": 0,
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
