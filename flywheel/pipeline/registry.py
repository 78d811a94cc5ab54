"""The processing stages new data goes through, in order.

Each app registers its stage in its tasks.py (loaded in every process):

    @pipeline_stage(order=10, name="cleaning")
    def clean_new_data(*, progress) -> dict:
        return cleaning_run_pending(progress=progress)

A stage processes whatever is pending for it (rows it has not seen yet), idempotently, and
returns a dict of counts. Stages that call remote services may enqueue jobs on their own queue
instead of doing the work inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Stage:
    order: int
    name: str
    func: Callable[..., dict]


STAGES: dict[str, Stage] = {}


def pipeline_stage(*, order: int, name: str):
    def register(func):
        STAGES[name] = Stage(order=order, name=name, func=func)
        return func

    return register


def stages_in_order() -> list[Stage]:
    return sorted(STAGES.values(), key=lambda stage: stage.order)
