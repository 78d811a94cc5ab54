"""Chart.js configurations built on the server and handed to the page as JSON (json_script);
static/js/app.js draws every `<canvas data-chart="ID">` from the JSON block with that ID."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from django.utils.translation import gettext

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


def wilson_interval(successes: int, total: int, *, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% for z = 1.96), None without trials. Unlike
    the plain p ± z·√(p(1−p)/n), it stays inside [0, 1] and stays wide on few trials: 4 up out
    of 5 is 0.38–0.96, not "80%"."""
    if total <= 0:
        return None
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_chart(labels: Sequence, counts: dict[str, tuple[Sequence[int], Sequence[int]]], *, y_title: str) -> dict:
    """A rate per series (`counts`: name → (successes per label, trials per label)) drawn so that
    a swing on a handful of trials does not read as a trend: each point's size grows with its
    number of trials, its tooltip says how many and gives the 95% Wilson interval, and a shaded
    band draws that interval (static/js/app.js reads `pointNotes` and hides `band` datasets from
    the legend)."""
    datasets = []
    for i, (name, (ups, totals)) in enumerate(counts.items()):
        colour = PALETTE[i % len(PALETTE)]
        intervals = [wilson_interval(up, total) for up, total in zip(ups, totals)]
        rates = [round(up / total, 3) if total else None for up, total in zip(ups, totals)]
        notes = [
            gettext("%(n)s ratings · 95%% interval %(low).2f–%(high).2f")
            % {"n": total, "low": interval[0], "high": interval[1]}
            if interval
            else ""
            for total, interval in zip(totals, intervals)
        ]
        band = {"borderColor": "rgba(0,0,0,0)", "pointRadius": 0, "spanGaps": False, "band": True, "tension": 0}
        low_index = len(datasets) + 1
        datasets += [
            {
                "label": name,
                "data": rates,
                "borderColor": colour,
                "backgroundColor": colour,
                "tension": 0,
                "spanGaps": True,
                # Dot area grows with the ratings behind it: radius 2 for one, 8 from 100 on.
                "pointRadius": [min(8, round(2 + math.sqrt(total) * 0.6, 1)) if total else 0 for total in totals],
                "pointNotes": notes,
                "counts": list(totals),
            },
            {**band, "label": f"{name} low", "data": [round(v[0], 3) if v else None for v in intervals], "fill": False},
            {
                **band,
                "label": f"{name} high",
                "data": [round(v[1], 3) if v else None for v in intervals],
                "fill": low_index,  # shade down to this series' "low" edge
                "backgroundColor": colour + "33",
            },
        ]
    return {
        "type": "line",
        "data": {"labels": list(labels), "datasets": datasets},
        "options": {
            "scales": {
                "y": {"beginAtZero": True, "max": 1, "title": {"display": True, "text": y_title}},
                "x": {"title": {"display": False, "text": ""}},
            }
        },
    }
