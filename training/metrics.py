"""The outputs the web side reads while and after a run: metrics.jsonl and result.json.

metrics.jsonl gets one JSON object per line, flushed as it is written, each with a "kind":
  train:   step, loss, lr, tokens_per_s, padding_ratio, channels {task_type: loss}, epoch,
           samples_consumed, time, grad_norm, turns, supervised_tokens, step_time_s
  eval:    step, eval_loss, eval_channels, time
  alert:   step, alert (its kind), message, and value/threshold/channel where they apply
  resumed: step (the checkpoint's), time: lines after it supersede earlier lines of the same steps
In a plan of stages, `step` counts across the whole plan and every line also carries `stage`
(its name), `stage_number` and `stage_step` (the step within the stage).
result.json is written once, atomically, at the end (completed, cancelled, stopped or failed).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from training.files import atomic_writer


def json_number(value: float) -> float | None:
    """JSON has no NaN or infinity; a diverged loss is reported as null rather than invalid JSON."""
    return value if math.isfinite(value) else None


class MetricsWriter:
    """Appends to metrics.jsonl; only the main process writes (others get enabled=False)."""

    def __init__(self, path: Path, enabled: bool):
        self.enabled = enabled
        self.path = path
        self._handle = open(path, "a", encoding="utf-8") if enabled else None

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"time": time.time(), **record}
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    with atomic_writer(path) as handle:
        json.dump(payload, handle, indent=2, ensure_ascii=False)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Train lines of a metrics.jsonl, later lines of a step replacing earlier ones (resume)."""
    by_step: dict[int, dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "train":
            by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step)]


def read_alerts(path: Path) -> list[dict[str, Any]]:
    """Alert lines of a metrics.jsonl, without those of steps a resume trained again."""
    alerts: list[dict[str, Any]] = []
    if not Path(path).is_file():
        return alerts
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "resumed":
            alerts = [alert for alert in alerts if alert["step"] <= record["step"]]
        elif record.get("kind") == "alert":
            alerts.append(record)
    return alerts
