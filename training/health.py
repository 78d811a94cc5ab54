"""Health alerts: signs that the training code, not the data, is wrong.

The rule of thumb: a loss that keeps rising is a bug in the training code (masking, label
shifting, a learning rate off by orders of magnitude, a broken resume), never "data too hard".
The monitor watches every optimizer step and returns `alert` records for metrics.jsonl:

  nan_loss          the loss or the gradient norm is NaN or infinite;
  first_loss_high   the first step's loss is above ln(vocabulary size) + 1: worse than guessing
                    uniformly, which a pretrained model never is unless labels are misaligned;
  rising_loss       over the last `window` steps the loss rises: the least-squares slope is
                    significant (t > 5), the fitted rise is over 5% of the window's mean and
                    the window's second half is higher than its first;
  grad_norm_spike   the gradient norm is over 10 times the median of the previous `window` steps;
  channel_diverging one task type's loss rises (the same test over its own last `window`
                    values) while the loss of the whole batch does not.

Each alert fires once and re-arms when its condition clears, so a long bad stretch writes one
line, not one a step. A new stage starts a fresh monitor: its data differ, and the jump in loss
at the boundary is not a trend. Pure Python: every rank computes the same alerts from the same
all-reduced numbers, so a stop decided on them is the same on every rank.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

TREND_T_STATISTIC = 5.0
TREND_MIN_RISE = 0.05
SPIKE_FACTOR = 10.0
MIN_HISTORY = 8
FIRST_LOSS_MARGIN = 1.0
ALERT_KINDS = ("nan_loss", "first_loss_high", "rising_loss", "grad_norm_spike", "channel_diverging")


def rising_trend(values: list[float]) -> float | None:
    """The fitted relative rise over `values` when the loss significantly rises, else None."""
    n = len(values)
    if n < MIN_HISTORY:
        return None
    mean_x, mean_y = (n - 1) / 2, statistics.fmean(values)
    sxx = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / sxx
    residuals = [y - (mean_y + slope * (x - mean_x)) for x, y in enumerate(values)]
    variance = sum(r * r for r in residuals) / (n - 2)
    standard_error = math.sqrt(variance / sxx)
    rise = slope * (n - 1) / abs(mean_y) if mean_y else 0.0
    significant = slope > 0 and (standard_error == 0 or slope / standard_error > TREND_T_STATISTIC)
    # A single outlier can tilt a fit; a real rise also lifts the later half of the window.
    later_half_higher = statistics.fmean(values[n // 2 :]) > statistics.fmean(values[: n // 2]) * (
        1 + TREND_MIN_RISE / 2
    )
    return rise if significant and rise > TREND_MIN_RISE and later_half_higher else None


class HealthMonitor:
    def __init__(self, *, window: int, vocab_size: int):
        self.window = window
        self.vocab_size = vocab_size
        self.losses: deque[float] = deque(maxlen=window)
        self.grad_norms: deque[float] = deque(maxlen=window)
        self.channels: dict[str, deque[float]] = {}
        self.active: set[str] = set()
        """Alerts whose condition still holds (they do not fire again until it clears)."""

    def state(self) -> dict:
        """Plain data for a checkpoint's trainer state: a resumed run watches the same windows."""
        return {
            "losses": list(self.losses),
            "grad_norms": list(self.grad_norms),
            "channels": {name: list(values) for name, values in self.channels.items()},
            "active": sorted(self.active),
        }

    def load_state(self, state: dict) -> None:
        self.losses.extend(state.get("losses", []))
        self.grad_norms.extend(state.get("grad_norms", []))
        for name, values in state.get("channels", {}).items():
            self.channels[name] = deque(values, maxlen=self.window)
        self.active = set(state.get("active", []))

    def _fire(self, key: str, holds: bool, alert: dict) -> list[dict]:
        if not holds:
            self.active.discard(key)
            return []
        if key in self.active:
            return []
        self.active.add(key)
        return [alert]

    def observe(
        self, *, step: int, loss: float, grad_norm: float | None, channels: dict[str, float], first_step: bool
    ) -> list[dict]:
        """The alerts this step raises (usually none). `first_step`: the first step of a run or stage."""
        alerts: list[dict] = []
        finite_norm = grad_norm is None or math.isfinite(grad_norm)
        alerts += self._fire(
            "nan_loss",
            not math.isfinite(loss) or not finite_norm,
            {
                "alert": "nan_loss",
                "message": f"the loss is {loss} and the gradient norm {grad_norm} at step {step}: "
                "training has diverged numerically",
            },
        )
        if not math.isfinite(loss):
            return alerts  # a NaN says nothing about trends; keep it out of the windows
        if first_step:
            ceiling = math.log(self.vocab_size) + FIRST_LOSS_MARGIN
            if loss > ceiling:
                alerts.append(
                    {
                        "alert": "first_loss_high",
                        "value": loss,
                        "threshold": ceiling,
                        "message": f"the first loss {loss:.3f} is above ln(vocabulary size {self.vocab_size}) + 1 = "
                        f"{ceiling:.3f}, worse than a uniform guess: look for misaligned labels or masks",
                    }
                )
        self.losses.append(loss)
        rise = rising_trend(list(self.losses)) if len(self.losses) == self.window else None
        alerts += self._fire(
            "rising_loss",
            rise is not None,
            {
                "alert": "rising_loss",
                "value": rise,
                "window": self.window,
                "message": f"the loss has risen {100 * (rise or 0):.0f}% over the last {self.window} steps: a rising loss "
                "means a bug in the training code (masking, shifting, learning rate), not hard data",
            },
        )
        if grad_norm is not None and math.isfinite(grad_norm):
            history = list(self.grad_norms)
            median = statistics.median(history) if len(history) >= MIN_HISTORY else None
            spike = median is not None and median > 0 and grad_norm > SPIKE_FACTOR * median
            alerts += self._fire(
                "grad_norm_spike",
                spike,
                {
                    "alert": "grad_norm_spike",
                    "value": grad_norm,
                    "threshold": SPIKE_FACTOR * (median or 0),
                    "message": f"the gradient norm {grad_norm:.3g} is over {SPIKE_FACTOR:.0f}x the median "
                    f"{median or 0:.3g} of the previous {len(history)} steps",
                },
            )
            self.grad_norms.append(grad_norm)
        for name, value in channels.items():
            if value is None or not math.isfinite(value):
                continue
            series = self.channels.setdefault(name, deque(maxlen=self.window))
            series.append(value)
            channel_rise = rising_trend(list(series)) if len(series) == self.window else None
            diverging = channel_rise is not None and rise is None and len(self.channels) > 1
            alerts += self._fire(
                f"channel:{name}",
                diverging,
                {
                    "alert": "channel_diverging",
                    "channel": name,
                    "value": channel_rise,
                    "message": f"the loss of {name!r} has risen {100 * (channel_rise or 0):.0f}% over its last {self.window} "
                    "steps while the rest does not: look at that data's masking and template",
                },
            )
        return alerts
