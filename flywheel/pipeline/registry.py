"""The processing stages new data goes through, in order.

An app writes its stage in its tasks.py and registers it in its AppConfig.ready():

    def clean_new_data(*, progress: Progress) -> dict:       # flywheel/cleaning/tasks.py
        return cleaning_run_pending(progress=progress)

    pipeline_stage_register("cleaning", tasks.clean_new_data, order=10)   # CleaningConfig.ready

A stage processes whatever is pending for it (rows it has not seen yet), idempotently, and
returns a dict of counts; it reports how far it has got through `progress` (the shape in
flywheel.jobs.progress), which the pipeline writes to the log. Stages that call remote services
may enqueue jobs on their own queue instead of doing the work inline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flywheel.registry import Registry


@dataclass(frozen=True)
class Stage:
    order: int
    name: str
    func: Callable[..., dict]


STAGES: Registry[Stage] = Registry("pipeline stage")


def pipeline_stage_register(name: str, func: Callable[..., dict], *, order: int) -> Stage:
    taken = next((stage.name for stage in STAGES.values() if stage.order == order), None)
    if taken is not None:
        # Two stages at one order would run in whichever order they happened to register.
        raise ValueError(f"pipeline stage {name!r}: order {order} is already {taken!r}'s")
    return STAGES.add(name, Stage(order=order, name=name, func=func))


def stages_in_order() -> list[Stage]:
    return sorted(STAGES.values(), key=lambda stage: stage.order)
