"""The build config of a dataset version: what to take, how to mix, supervise and split it.

`build_config_from_dict` validates a dict (from the form, a command, JSON) and names the field
that is wrong; `BuildConfig.as_dict()` is the canonical form stored on the version and covered
by its content hash.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext_noop

from flywheel.datasets.curate import DIVERSITY_METHODS, IFD_MODES
from flywheel.i18n import Text

SUPERVISION_MODES = {
    "all": gettext_noop("every assistant answer (except ones known to be bad or unticked by a reviewer)"),
    "last": gettext_noop("only the last usable answer of each conversation"),
    "reviewed": gettext_noop("only answers a reviewer ticked or rewrote"),
}
CONTINUITY_MODES = {
    "split": gettext_noop("split sessions where the topic changes; each part is a sample"),
    "whole": gettext_noop("keep sessions whole, topic changes and all"),
    "drop_switched": gettext_noop("leave out sessions that change topic"),
}
CLEANING_STATUSES = ("kept", "flagged")
SHARE_MAX = 0.9
CURATION_FIELDS = (
    "quality_model",
    "quality_min",
    "ifd_model",
    "ifd_mode",
    "ifd_top_share",
    "diversity",
    "diversity_k",
    "diversity_clusters",
    "necessity_run",
    "necessity_reward_model",
    "necessity_max",
)


@dataclass(frozen=True)
class BuildConfig:
    sources: tuple[str, ...]
    """Sample sources to read (see sources.py)."""
    cleaning_statuses: tuple[str, ...] = ("kept",)
    """Sessions cleaning kept, and optionally those it flagged; dropped and duplicates never."""
    task_types: tuple[str, ...] = ()
    """Only these task types; empty: every type."""
    include_unlabeled: bool = True
    """Samples nobody labelled yet (task type "unlabeled")."""
    min_quality: int | None = None
    """Leave out samples whose known quality (1-5) is below this; unknown quality passes."""
    reviewed_only: bool = False
    """Only samples a person reviewed."""
    trusted_labels_only: bool = False
    """Only samples whose labels a person gave or a trusted labeler made."""
    usable_only: bool = True
    """Leave out sessions the labeler judged unusable for training."""
    continuity: str = "split"
    """How sessions that change topic are used (CONTINUITY_MODES)."""
    supervision: str = "all"
    """Which assistant answers carry loss (SUPERVISION_MODES)."""
    mix: dict[str, float] = field(default_factory=dict)
    """Task type -> weight. Below 1: that share of the type is kept (a seeded choice); 0 leaves
    the type out; above 1: its conversations count that many times in the loss."""
    max_samples: int | None = None
    """Cap on conversations from the sources (before pseudo multi-turn and replay), taken
    evenly across task types."""
    pseudo_multi_turn_share: float = 0.0
    """Share of the SFT conversations that are pseudo multi-turn (single exchanges of different
    sessions joined into one conversation)."""
    replay_file: str = ""
    """A JSONL file of general conversations in the replay directory, mixed in to limit forgetting."""
    replay_share: float = 0.0
    """Share of the SFT conversations taken from the replay file."""
    exclude_versions: tuple[int, ...] = ()
    """Leave out samples (by content hash) that are already in these versions."""
    eval_fraction: float = 0.1
    """Share of each task type held out for evaluation."""
    seed: int = 0
    """Seeds every choice (subsampling, pseudo multi-turn, replay, split)."""
    tokenizer: str = ""
    """Model or tokenizer directory for token statistics; empty: the approximation."""
    quality_model: str = ""
    """Reward model directory whose stored scores (flywheel.curation) filter by quality_min; empty:
    min_quality (the label quality) is the quality filter."""
    quality_min: float | None = None
    """Keep conversations whose reward from quality_model is at least this (MoDS's quality stage)."""
    ifd_model: str = ""
    """Model directory whose IFD scores (flywheel.curation) filter the turns; empty: no IFD step."""
    ifd_mode: str = "drop_above_1"
    """How IFD filters (flywheel.datasets.curate.IFD_MODES)."""
    ifd_top_share: float = 0.5
    """With ifd_mode top_share: the share of each task type's conversations kept, highest IFD first."""
    diversity: str = ""
    """Diversity selection (flywheel.datasets.curate.DIVERSITY_METHODS); empty: none."""
    diversity_k: int | None = None
    """How many conversations the diversity selection keeps."""
    diversity_clusters: int = 20
    """k-means clusters for the cluster sampling methods."""
    necessity_run: int | None = None
    """MoDS's necessity stage: a training run on the seed selection. The seed (its version's
    conversations) is kept, and of the other conversations those whose prompt the run's model
    answers with a reward below necessity_max (flywheel/curation/necessity.py); with diversity, the
    diversity_k of them K-Center-Greedy picks, starting from the seed."""
    necessity_reward_model: str = ""
    """Reward model directory that scores the seed model's answers; empty: quality_model."""
    necessity_max: float | None = None
    """A prompt answered with a reward below this is added (the seed model still answers it badly)."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # Curation settings at their defaults stay out, so versions built before they existed
        # keep their content hash when rebuilt with the same settings.
        for name in CURATION_FIELDS:
            if data[name] == BuildConfig.__dataclass_fields__[name].default:
                del data[name]
        data["sources"] = sorted(self.sources)
        data["cleaning_statuses"] = sorted(self.cleaning_statuses)
        data["task_types"] = sorted(self.task_types)
        data["exclude_versions"] = sorted(self.exclude_versions)
        data["mix"] = {key: self.mix[key] for key in sorted(self.mix)}
        return data


def _bool(data: dict, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.lower() in ("1", "true", "yes", "on")
    raise ValueError(Text("%(name)s must be true or false, not %(value)r", name=name, value=value))


def _share(data: dict, name: str, default: float, maximum: float) -> float:
    value = data.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            Text(
                "%(name)s must be a number between 0 and %(maximum)s, not %(value)r",
                name=name,
                maximum=maximum,
                value=value,
            )
        ) from None
    if not math.isfinite(number) or not 0 <= number <= maximum:
        raise ValueError(
            Text("%(name)s must be between 0 and %(maximum)s, not %(value)r", name=name, maximum=maximum, value=value)
        )
    return number


def _optional_int(data: dict, name: str, minimum: int, maximum: int | None = None) -> int | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(Text("%(name)s must be a whole number, not %(value)r", name=name, value=value)) from None
    if number < minimum or (maximum is not None and number > maximum):
        if maximum is None:
            raise ValueError(
                Text("%(name)s must be at least %(minimum)s, not %(number)s", name=name, minimum=minimum, number=number)
            )
        raise ValueError(
            Text(
                "%(name)s must be between %(minimum)s and %(maximum)s, not %(number)s",
                name=name,
                minimum=minimum,
                maximum=maximum,
                number=number,
            )
        )
    return number


def _names(data: dict, name: str) -> tuple[str, ...]:
    value = data.get(name) or ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, (list, tuple)):
        raise ValueError(Text("%(name)s must be a list of names", name=name))
    names = []
    for item in value:
        if not isinstance(item, str) or len(item) > 64:
            raise ValueError(Text("%(name)s: %(item)r is not a name", name=name, item=item))
        if item.strip():
            names.append(item.strip())
    return tuple(sorted(set(names)))


def _mix(data: dict) -> dict[str, float]:
    value = data.get("mix") or {}
    if isinstance(value, str):
        value = parse_mix(value)
    if not isinstance(value, dict):
        raise ValueError(Text('mix must map task types to weights, e.g. {"coding": 2, "chitchat": 0.5}'))
    mix = {}
    for task_type, weight in value.items():
        if not isinstance(task_type, str) or not task_type.strip() or len(task_type) > 64:
            raise ValueError(Text("mix: %(task_type)r is not a task type", task_type=task_type))
        try:
            number = float(weight)
        except (TypeError, ValueError):
            raise ValueError(
                Text(
                    "mix: the weight of %(task_type)s must be a number, not %(weight)r",
                    task_type=task_type,
                    weight=weight,
                )
            ) from None
        if not math.isfinite(number) or not 0 <= number <= 100:
            raise ValueError(
                Text(
                    "mix: the weight of %(task_type)s must be between 0 and 100, not %(weight)r",
                    task_type=task_type,
                    weight=weight,
                )
            )
        if number != 1.0:
            mix[task_type.strip()] = number
    return mix


def parse_mix(text: str) -> dict[str, str]:
    """ "coding=2, chitchat=0.5" (the form's notation) as a dict; ValueError names a bad part."""
    mix = {}
    for part in filter(None, (p.strip() for p in text.replace("\n", ",").split(","))):
        task_type, sep, weight = part.partition("=")
        if not sep or not task_type.strip():
            raise ValueError(Text("mix: write each entry as task_type=weight, not %(part)r", part=part))
        mix[task_type.strip()] = weight.strip()
    return mix


def build_config_from_dict(data: dict[str, Any], *, known_sources: list[str]) -> BuildConfig:
    """A validated config; ValueError says which field is wrong and why."""
    if not isinstance(data, dict):
        raise ValueError(Text("the build config must be an object"))
    allowed = set(BuildConfig.__dataclass_fields__)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(Text("unknown build setting(s): %(names)s", names=", ".join(unknown)))
    sources = _names(data, "sources") if "sources" in data else tuple(known_sources)
    if not sources:
        raise ValueError(Text("choose at least one sample source"))
    missing = [name for name in sources if name not in known_sources]
    if missing:
        raise ValueError(Text("unknown or unavailable sample source(s): %(names)s", names=", ".join(missing)))
    statuses = _names(data, "cleaning_statuses") if "cleaning_statuses" in data else ("kept",)
    if not statuses or set(statuses) - set(CLEANING_STATUSES):
        raise ValueError(Text("cleaning_statuses must be some of %(names)s", names=", ".join(CLEANING_STATUSES)))
    continuity = data.get("continuity", "split")
    if continuity not in CONTINUITY_MODES:
        raise ValueError(
            Text(
                "continuity must be one of %(names)s, not %(value)r",
                names=", ".join(CONTINUITY_MODES),
                value=continuity,
            )
        )
    supervision = data.get("supervision", "all")
    if supervision not in SUPERVISION_MODES:
        raise ValueError(
            Text(
                "supervision must be one of %(names)s, not %(value)r",
                names=", ".join(SUPERVISION_MODES),
                value=supervision,
            )
        )
    replay_file = str(data.get("replay_file") or "")
    replay_share = _share(data, "replay_share", 0.0, SHARE_MAX)
    if replay_share and not replay_file:
        raise ValueError(Text("replay_share needs a replay_file"))
    if replay_file and ("/" in replay_file or "\\" in replay_file or replay_file.startswith(".")):
        raise ValueError(Text("replay_file is the name of a file in the replay directory, not a path"))
    pseudo = _share(data, "pseudo_multi_turn_share", 0.0, SHARE_MAX)
    if pseudo + replay_share > SHARE_MAX:
        raise ValueError(
            Text("pseudo_multi_turn_share + replay_share must stay at most %(maximum)s", maximum=SHARE_MAX)
        )
    excluded = data.get("exclude_versions") or ()
    if not isinstance(excluded, (list, tuple)) or not all(str(v).isdigit() for v in excluded):
        raise ValueError(Text("exclude_versions must be a list of version ids"))
    tokenizer = str(data.get("tokenizer") or "")
    return BuildConfig(
        sources=sources,
        cleaning_statuses=statuses,
        task_types=_names(data, "task_types"),
        include_unlabeled=_bool(data, "include_unlabeled", True),
        min_quality=_optional_int(data, "min_quality", 1, 5),
        reviewed_only=_bool(data, "reviewed_only", False),
        trusted_labels_only=_bool(data, "trusted_labels_only", False),
        usable_only=_bool(data, "usable_only", True),
        continuity=continuity,
        supervision=supervision,
        mix=_mix(data),
        max_samples=_optional_int(data, "max_samples", 1),
        pseudo_multi_turn_share=pseudo,
        replay_file=replay_file,
        replay_share=replay_share,
        exclude_versions=tuple(sorted({int(v) for v in excluded})),
        eval_fraction=_share(data, "eval_fraction", 0.1, 0.5),
        seed=_optional_int(data, "seed", 0) or 0,
        tokenizer=tokenizer,
        **_curation_settings(data),
    )


def _curation_settings(data: dict) -> dict:
    ifd_model = str(data.get("ifd_model") or "")
    ifd_mode = data.get("ifd_mode") or "drop_above_1"
    if ifd_mode not in IFD_MODES:
        raise ValueError(
            Text("ifd_mode must be one of %(names)s, not %(value)r", names=", ".join(IFD_MODES), value=ifd_mode)
        )
    share = _share(data, "ifd_top_share", 0.5, 1.0)
    if ifd_mode == "top_share" and share == 0:
        raise ValueError(Text("ifd_top_share must be above 0"))
    diversity = data.get("diversity") or ""
    if diversity not in DIVERSITY_METHODS:
        raise ValueError(
            Text(
                "diversity must be one of %(names)s, not %(value)r",
                names=", ".join(m for m in DIVERSITY_METHODS if m),
                value=diversity,
            )
        )
    k = _optional_int(data, "diversity_k", 1)
    if diversity and k is None:
        raise ValueError(
            Text("diversity %(method)s needs diversity_k, the number of conversations to keep", method=diversity)
        )
    clusters = _optional_int(data, "diversity_clusters", 1, 1000) or 20
    quality_model = str(data.get("quality_model") or "")
    quality_min = data.get("quality_min")
    if quality_min in ("", None):
        quality_min = None
    else:
        try:
            quality_min = float(quality_min)
        except (TypeError, ValueError):
            raise ValueError(Text("quality_min must be a number, not %(value)r", value=quality_min)) from None
        if not math.isfinite(quality_min):
            raise ValueError(Text("quality_min must be a finite number"))
    if bool(quality_model) != (quality_min is not None):
        raise ValueError(Text("quality_model and quality_min go together: a reward model and the least reward kept"))
    necessity_run = _optional_int(data, "necessity_run", 1)
    necessity_reward_model = str(data.get("necessity_reward_model") or "")
    necessity_max = _optional_float(data, "necessity_max")
    if necessity_run is not None:
        if necessity_max is None:
            raise ValueError(Text("necessity_run needs necessity_max: the reward below which a prompt is added"))
        if not (necessity_reward_model or quality_model):
            raise ValueError(Text("necessity_run needs a reward model: necessity_reward_model (or quality_model)"))
    elif necessity_reward_model or necessity_max is not None:
        raise ValueError(
            Text("necessity_reward_model and necessity_max need necessity_run, the run trained on the seed")
        )
    return {
        "quality_model": quality_model,
        "quality_min": quality_min,
        "ifd_model": ifd_model,
        "ifd_mode": ifd_mode,
        "ifd_top_share": share,
        "diversity": diversity,
        "diversity_k": k if diversity else None,
        "diversity_clusters": clusters,
        "necessity_run": necessity_run,
        "necessity_reward_model": necessity_reward_model,
        "necessity_max": necessity_max,
    }


def _optional_float(data: dict, name: str) -> float | None:
    value = data.get(name)
    if value in ("", None):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(Text("%(name)s must be a number, not %(value)r", name=name, value=value)) from None
    if not math.isfinite(number):
        raise ValueError(Text("%(name)s must be a finite number", name=name))
    return number
