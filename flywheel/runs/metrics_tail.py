"""Tailing a run directory into the database: metrics.jsonl lines become RunMetric rows
(upserted by run, kind and step), complete checkpoints and the log tail go on the run.

A `resumed` line says the trainer restarted from a checkpoint at that step: rows of later
steps are deleted there, and the lines that follow write them again (the same rule as
`training.contract.read_metrics`). Reading the file again from the start therefore always ends
in the same rows. `alert` lines (the trainer's health alerts) are kept on the run, the same
rule dropping those of steps trained again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flywheel.runs.models import RunMetric, TrainingRun
from training.contract import METRICS_FILE, checkpoint_position, complete_checkpoints

logger = logging.getLogger(__name__)
TRAIN_FIELDS = ["loss", "lr", "tokens_per_s", "padding_ratio", "grad_norm", "epoch", "channels", "logged_at", "stage"]
ALERT_FIELDS = ("step", "stage", "alert", "message", "channel", "value", "threshold", "time")


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def log_tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    # Progress bars redraw with carriage returns; keep what the last redraw shows.
    kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(kept[-lines:])


class MetricsTail:
    def __init__(self, *, run: TrainingRun, run_dir: Path):
        self.run_id = run.id
        self.run_dir = run_dir
        self.path = run_dir / METRICS_FILE
        self.offset = 0
        self.channels: set[str] = set()
        self.alerts: list[dict] = []
        self.skipped_lines = 0

    def read(self) -> int:
        """Apply the complete lines written since the last read; returns how many."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # a line still being written is read next time
        self.offset += end + 1
        records = []
        for line in data[: end + 1].splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                # A line cut by a killed trainer, with the next one appended to it.
                self.skipped_lines += 1
                logger.warning("run %s: skipped an unreadable metrics line", self.run_id)
        self._apply(records)
        return len(records)

    def _apply(self, records: list[dict]) -> None:
        pending: dict[tuple[str, int], RunMetric] = {}
        for record in records:
            kind, step = record.get("kind"), record.get("step")
            if not isinstance(step, int):
                continue
            if kind == "resumed":
                self._flush(pending)
                pending = {}
                RunMetric.objects.filter(run_id=self.run_id, step__gt=step).delete()
                self.alerts = [alert for alert in self.alerts if alert["step"] <= step]
            elif kind == "alert":
                self.alerts.append({key: record[key] for key in ALERT_FIELDS if key in record})
            elif kind == "train":
                channels = record.get("channels") or {}
                self.channels.update(channels)
                pending[("train", step)] = RunMetric(
                    run_id=self.run_id,
                    kind="train",
                    step=step,
                    loss=_number(record.get("loss")),
                    lr=_number(record.get("lr")),
                    tokens_per_s=_number(record.get("tokens_per_s")),
                    padding_ratio=_number(record.get("padding_ratio")),
                    grad_norm=_number(record.get("grad_norm")),
                    epoch=_number(record.get("epoch")),
                    channels=channels,
                    logged_at=_number(record.get("time")),
                    stage=str(record.get("stage") or "")[:64],
                )
            elif kind == "eval":
                channels = record.get("eval_channels") or {}
                self.channels.update(channels)
                pending[("eval", step)] = RunMetric(
                    run_id=self.run_id,
                    kind="eval",
                    step=step,
                    loss=_number(record.get("eval_loss")),
                    channels=channels,
                    logged_at=_number(record.get("time")),
                    stage=str(record.get("stage") or "")[:64],
                )
        self._flush(pending)

    def _flush(self, pending: dict) -> None:
        if pending:
            RunMetric.objects.bulk_create(
                list(pending.values()),
                update_conflicts=True,
                unique_fields=["run", "kind", "step"],
                update_fields=TRAIN_FIELDS,
            )

    def checkpoints(self) -> list[dict]:
        found = []
        for path in complete_checkpoints(self.run_dir):
            _, stage, step = checkpoint_position(path)
            found.append({"step": step, "stage": stage, "path": str(path)})
        return found

    def run_fields(self) -> dict:
        """The run's summary fields as the database now has them."""
        train = RunMetric.objects.filter(run_id=self.run_id, kind="train")
        last = train.order_by("-step").values("step", "loss").first()
        first = train.order_by("step").values("loss").first()
        last_eval = RunMetric.objects.filter(run_id=self.run_id, kind="eval").order_by("-step").values("loss").first()
        fields = {
            "current_step": last["step"] if last else 0,
            "last_loss": last["loss"] if last else None,
            "first_loss": first["loss"] if first else None,
            "checkpoints": self.checkpoints(),
            "alerts": self.alerts,
        }
        if last_eval is not None:
            fields["eval_loss"] = last_eval["loss"]
        if self.channels:
            fields["channels"] = sorted(self.channels)
        return fields
