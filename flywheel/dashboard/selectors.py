from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from flywheel.dashboard.models import DailyStats, RollupWatermark
from flywheel.evaluation.selectors import model_version_evaluations
from flywheel.ui.charts import line_chart, rate_chart, wilson_interval


def dashboard_figures(*, days: int = 30) -> dict:
    since = timezone.now().date() - timedelta(days=days - 1)
    rows = list(DailyStats.objects.filter(day__gte=since).order_by("day"))
    labels = [(since + timedelta(days=i)).isoformat() for i in range(days)]
    index = {day: i for i, day in enumerate(labels)}
    volume = {_("messages"): [0] * days, _("sessions"): [0] * days}
    up_down: dict[str, list[list[int]]] = defaultdict(lambda: [[0] * days, [0] * days])
    for row in rows:
        i = index[row.day.isoformat()]
        volume[_("messages")][i] += row.messages
        volume[_("sessions")][i] += row.sessions
        if row.thumbs_up or row.thumbs_down:
            counts = up_down[row.model_version or "(unknown)"]
            counts[0][i] += row.thumbs_up
            counts[1][i] += row.thumbs_down
    rate_counts = {
        version: (ups, [u + d for u, d in zip(ups, downs)]) for version, (ups, downs) in sorted(up_down.items())
    }
    totals = DailyStats.objects.aggregate(
        sessions=Sum("sessions"), messages=Sum("messages"), thumbs_up=Sum("thumbs_up"), thumbs_down=Sum("thumbs_down")
    )
    totals = {k: v or 0 for k, v in totals.items()}
    rated = totals["thumbs_up"] + totals["thumbs_down"]
    return {
        "model_versions": model_versions_online_and_offline(),
        "totals": totals,
        "thumbs_up_rate": round(totals["thumbs_up"] / rated, 3) if rated else None,
        "volume_chart": line_chart(labels, volume, y_title=_("per day")),
        "thumbs_up_interval": wilson_interval(totals["thumbs_up"], rated),
        "rate_chart": rate_chart(labels, rate_counts, y_title=_("thumbs-up rate")),
        "rolled_up_at": RollupWatermark.objects.order_by("-updated_at").values_list("updated_at", flat=True).first(),
    }


def model_versions_online_and_offline() -> list[dict]:
    """Per model version, the online thumbs-up rate (all days rolled up) beside its latest
    offline evaluation (flywheel.evaluation: the version evaluated as `endpoint:<version>`)."""
    rows = (
        DailyStats.objects.exclude(model_version="")
        .values("model_version")
        .annotate(up=Sum("thumbs_up"), down=Sum("thumbs_down"))
        .order_by("model_version")
    )
    online = {row["model_version"]: (row["up"] or 0, row["down"] or 0) for row in rows}
    offline = model_version_evaluations(versions=list(online))
    return [
        {
            "version": version,
            "rated": up + down,
            "thumbs_up_rate": round(up / (up + down), 3) if up + down else None,
            "interval": wilson_interval(up, up + down),
            "evaluation": offline.get(version),
        }
        for version, (up, down) in online.items()
    ]
