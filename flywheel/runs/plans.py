"""Training strategies over dataset versions: which conversations each stage of a run trains on.

The pool is the SFT train split of the chosen versions (a conversation in two versions counts
once). Task types are either specialist (named by the person launching the run, in order) or
general (every other type in the pool). The strategies:

    multi_task        one stage: everything mixed (what a run without a plan does)
    sequential        one stage per specialist type, in the order given, then the general set
    mixed_sequential  the specialist types mixed, then the general set
    dmt               dual-stage mixed fine-tuning: the specialist types mixed, then the general
                      set plus a share k of each specialist type (k in 1, 1/2, ..., 1/32), so
                      the model recalls its specialist skills while it learns the general set

A share below 1 is taken per task type by the dataset builder's own mix
(`flywheel.datasets.builder.mix_by_task_type`): round(n * k) of each type, a choice seeded by
the content hash, so the same pool and seed always give the same stage. Pure functions over
plain samples: the plan the page previews is exactly the data the worker writes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from django.utils.translation import gettext, gettext_noop

from flywheel.datasets.builder import BuiltSample, mix_by_task_type
from flywheel.datasets.config import BuildConfig

STRATEGIES = {
    "multi_task": gettext_noop("Multi-task: every task type mixed in one stage"),
    "sequential": gettext_noop("Sequential: each specialist task type in turn, then the general set"),
    "mixed_sequential": gettext_noop("Mixed sequential: the specialist task types mixed, then the general set"),
    "dmt": gettext_noop(
        "DMT: the specialist task types mixed, then the general set with a share k of each specialist type"
    ),
}
DMT_SHARES = ("1", "1/2", "1/4", "1/8", "1/16", "1/32")
DEFAULT_DMT_SHARE = "1/4"
GENERAL = "general"
SPECIALISTS = "specialists"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class PlanError(ValueError):
    """A plan that cannot be trained, with the reason."""


@dataclass(frozen=True)
class StagePart:
    task_types: tuple[str, ...] | None
    """These specialist task types; None: the general set (every type that is not specialist)."""
    share: float = 1.0


@dataclass(frozen=True)
class PlannedStage:
    name: str
    """A name the trainer accepts in directory names."""
    parts: tuple[StagePart, ...]


def dmt_share(label: str) -> float:
    if label not in DMT_SHARES:
        raise PlanError(f"the DMT share k must be one of {', '.join(DMT_SHARES)}, not {label!r}")
    return float(Fraction(label))


def _stage_name(task_type: str, taken: set[str]) -> str:
    base = _UNSAFE.sub("-", task_type).strip("-.")[:32] or "specialist"
    if not base[0].isalnum():
        base = f"t{base}"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def plan_stages(strategy: str, specialist_task_types: list[str], dmt_k: str = DEFAULT_DMT_SHARE) -> list[PlannedStage]:
    if strategy not in STRATEGIES:
        raise PlanError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    specialist = tuple(specialist_task_types)
    if strategy == "multi_task":
        return [PlannedStage("all", (StagePart(specialist), StagePart(None)) if specialist else (StagePart(None),))]
    if not specialist:
        raise PlanError(
            gettext("the %(strategy)s strategy needs at least one specialist task type") % {"strategy": strategy}
        )
    general = PlannedStage(GENERAL, (StagePart(None),))
    if strategy == "sequential":
        taken = {GENERAL}
        return [
            *(PlannedStage(_stage_name(task_type, taken), (StagePart((task_type,)),)) for task_type in specialist),
            general,
        ]
    if strategy == "mixed_sequential":
        return [PlannedStage(SPECIALISTS, (StagePart(specialist),)), general]
    return [
        PlannedStage(SPECIALISTS, (StagePart(specialist),)),
        PlannedStage(GENERAL, (StagePart(None), StagePart(specialist, dmt_share(dmt_k)))),
    ]


def _members(samples: list[BuiltSample], part: StagePart, specialist: set[str]) -> list[BuiltSample]:
    if part.task_types is None:
        return [s for s in samples if s.task_type not in specialist]
    wanted = set(part.task_types)
    return [s for s in samples if s.task_type in wanted]


def stage_samples(
    samples: list[BuiltSample], stage: PlannedStage, specialist_task_types: Iterable[str], seed: int = 0
) -> list[BuiltSample]:
    """The samples of one stage, in pool order within each part."""
    specialist = set(specialist_task_types)
    chosen: list[BuiltSample] = []
    for part in stage.parts:
        members = _members(samples, part, specialist)
        if part.share < 1.0:
            shares = BuildConfig(
                sources=(), mix={task_type: part.share for task_type in {s.task_type for s in members}}, seed=seed
            )
            members = mix_by_task_type(members, shares, Counter())
        chosen.extend(members)
    return chosen


def plan_check(samples: list[BuiltSample], stages: list[PlannedStage], specialist_task_types: list[str]) -> None:
    """PlanError when a specialist type is not in the pool or a stage would be empty."""
    present = {s.task_type for s in samples}
    missing = [t for t in specialist_task_types if t not in present]
    if missing:
        raise PlanError(
            f"no training conversation of task type {', '.join(map(repr, missing))} in the chosen versions "
            f"(they hold {', '.join(sorted(present)) or 'nothing'})"
        )
    if len(set(specialist_task_types)) != len(specialist_task_types):
        raise PlanError(gettext("a specialist task type is listed twice"))
    for stage in stages:
        if not stage_samples(samples, stage, specialist_task_types):
            what = (
                "the general set is empty: leave some task types out of the specialist list"
                if stage.name == GENERAL
                else f"stage {stage.name!r} has no conversation"
            )
            raise PlanError(what)


def plan_summary(
    samples: list[BuiltSample], stages: list[PlannedStage], specialist_task_types: list[str], seed: int = 0
) -> list[dict]:
    """[{name, conversations, task_types: {type: count}, parts: [text]}] for the page and the run."""
    summary = []
    for stage in stages:
        chosen = stage_samples(samples, stage, specialist_task_types, seed)
        parts = []
        for part in stage.parts:
            what = "the general set" if part.task_types is None else ", ".join(part.task_types)
            parts.append(what if part.share == 1.0 else f"{Fraction(part.share).limit_denominator()} of each of {what}")
        summary.append(
            {
                "name": stage.name,
                "conversations": len(chosen),
                "task_types": dict(sorted(Counter(s.task_type for s in chosen).items())),
                "parts": parts,
            }
        )
    return summary
