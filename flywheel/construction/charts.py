"""Chart.js configurations of the construction pages (drawn by static/js/app.js)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from flywheel.ui.charts import PALETTE, bar_chart


def length_bias_chart(points: list[dict]) -> dict:
    """Judge score against answer length, one colour per candidate source: a cloud that rises
    to the right is a judge that rewards length."""
    sources = sorted({p["source"] for p in points})
    datasets = [
        {
            "label": source,
            "data": [{"x": p["x"], "y": p["y"]} for p in points if p["source"] == source],
            "backgroundColor": PALETTE[i % len(PALETTE)],
            "pointRadius": 3,
        }
        for i, source in enumerate(sources)
    ]
    return {
        "type": "scatter",
        "data": {"datasets": datasets},
        "options": {
            "scales": {
                "x": {"title": {"display": True, "text": _("answer length (characters)")}},
                "y": {"min": 0, "max": 10, "title": {"display": True, "text": _("judge score")}},
            }
        },
    }


def refusals_chart(pairs_refused: dict, sft_refused: dict) -> dict:
    reasons = sorted(set(pairs_refused) | set(sft_refused))
    return bar_chart(
        reasons,
        {
            _("pairs refused"): [pairs_refused.get(r, 0) for r in reasons],
            _("SFT answers refused"): [sft_refused.get(r, 0) for r in reasons],
        },
    )
