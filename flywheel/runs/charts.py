"""Chart.js configs of a run (built on the server; static/js/app.js draws them and, while the
run is live, fetches them again every 2 s from the chart endpoint)."""

from __future__ import annotations

import math

from flywheel.runs.models import RunMetric, TrainingRun
from flywheel.ui.charts import line_chart

MAX_POINTS = 600
ALL_TURNS = "all task types"
EVAL = "eval (all task types)"
CHARTS = ("loss", "lr", "throughput")


def _thinned(rows: list[dict]) -> list[dict]:
    """At most MAX_POINTS rows, evenly spaced, always keeping the last."""
    if len(rows) <= MAX_POINTS:
        return rows
    stride = math.ceil(len(rows) / MAX_POINTS)
    kept = rows[::stride]
    return kept if kept[-1] is rows[-1] else [*kept, rows[-1]]


def run_chart(*, run: TrainingRun, name: str) -> dict:
    rows = _thinned(list(RunMetric.objects.filter(run=run, kind="train").order_by("step")
                         .values("step", "loss", "lr", "tokens_per_s", "channels")))
    steps = [row["step"] for row in rows]
    if name == "loss":
        series = {ALL_TURNS: [row["loss"] for row in rows]}
        for channel in sorted({c for row in rows for c in (row["channels"] or {})}):
            series[channel] = [(row["channels"] or {}).get(channel) for row in rows]
        evals = dict(RunMetric.objects.filter(run=run, kind="eval").values_list("step", "loss"))
        if evals:
            series[EVAL] = [evals.get(step) for step in steps]
        config = line_chart(steps, series, y_title="loss (per turn)", x_title="step")
        for dataset in config["data"]["datasets"]:
            if dataset["label"] == ALL_TURNS:  # the loss the run optimises stands out from its channels
                dataset.update(borderColor="#212121", backgroundColor="#212121", borderWidth=3, order=0)
            elif dataset["label"] == EVAL:
                dataset.update(borderColor="#212121", backgroundColor="#ffffff", pointRadius=6, pointStyle="rectRot",
                               showLine=False)
    elif name == "lr":
        config = line_chart(steps, {"learning rate": [row["lr"] for row in rows]}, y_title="learning rate", x_title="step")
    elif name == "throughput":
        config = line_chart(steps, {"tokens/s": [row["tokens_per_s"] for row in rows]}, y_title="tokens per second",
                            x_title="step")
    else:
        raise ValueError(f"unknown chart {name!r}")
    config["live"] = not run.is_finished
    return config
