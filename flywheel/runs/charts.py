"""Chart.js configs of a run (built on the server; static/js/app.js draws them and, while the
run is live, fetches them again every 2 s from the chart endpoint).

A run with a plan of stages logs its steps across the whole plan; `data.stageBoundaries`
([{step, stage}], the first step of every stage after the first) travels with the data, so a
live refresh brings new boundaries too, and static/js/runs.js draws them as dashed lines."""

from __future__ import annotations

import math

from django.utils.translation import gettext as _

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
    every = list(
        RunMetric.objects.filter(run=run, kind="train")
        .order_by("step")
        .values("step", "loss", "lr", "tokens_per_s", "channels", "stage")
    )
    boundaries = stage_boundaries(every)
    rows = _thinned(every)
    kept = {row["step"] for row in rows}
    # A boundary's step stays on the axis even when thinning would drop it.
    rows = sorted(
        [*rows, *(row for row in every if row["step"] in {b["step"] for b in boundaries} - kept)],
        key=lambda row: row["step"],
    )
    steps = [row["step"] for row in rows]
    if name == "loss":
        series = {ALL_TURNS: [row["loss"] for row in rows]}
        for channel in sorted({c for row in rows for c in (row["channels"] or {})}):
            series[channel] = [(row["channels"] or {}).get(channel) for row in rows]
        evals = dict(RunMetric.objects.filter(run=run, kind="eval").values_list("step", "loss"))
        if evals:
            series[EVAL] = [evals.get(step) for step in steps]
        config = line_chart(steps, series, y_title=_("loss (per turn)"), x_title=_("step"))
        for dataset in config["data"]["datasets"]:
            if dataset["label"] == ALL_TURNS:  # the loss the run optimises stands out from its channels
                dataset.update(borderColor="#212121", backgroundColor="#212121", borderWidth=3, order=0)
            elif dataset["label"] == EVAL:
                # Evaluated every few steps: a dashed line through those points (spanning the
                # steps between them), so its trend reads as a line, set apart from training's.
                dataset.update(
                    borderColor="#212121",
                    backgroundColor="#ffffff",
                    borderDash=[6, 4],
                    borderWidth=2,
                    pointRadius=5,
                    pointStyle="rectRot",
                    showLine=True,
                    spanGaps=True,
                    order=1,
                )
    elif name == "lr":
        config = line_chart(
            steps, {_("learning rate"): [row["lr"] for row in rows]}, y_title=_("learning rate"), x_title=_("step")
        )
    elif name == "throughput":
        config = line_chart(
            steps,
            {_("tokens/s"): [row["tokens_per_s"] for row in rows]},
            y_title=_("tokens per second"),
            x_title=_("step"),
        )
    else:
        raise ValueError(f"unknown chart {name!r}")
    config["data"]["stageBoundaries"] = boundaries
    config["live"] = not run.is_finished
    return config


def stage_boundaries(rows: list[dict]) -> list[dict]:
    """The first logged step of every stage after the first, with the stage's name."""
    boundaries, previous = [], None
    for row in rows:
        stage = row.get("stage") or ""
        if previous is not None and stage != previous:
            boundaries.append({"step": row["step"], "stage": stage})
        previous = stage
    return boundaries
