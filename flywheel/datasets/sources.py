"""Where dataset samples come from: a small registry of sample sources.

A source yields `Candidate`s — conversations (SFT) or preference pairs, each with the facts the
builder filters and mixes on (task type, quality, reviewed, cleaning status, pseudo multi-turn)
and its lineage back to the rows it was made from. The builder knows nothing about the apps that
make samples: each registers its sources in its AppConfig.ready() (datasets: logged sessions and
pairs; construction: its accepted answers, pairs and synthetic conversations), and the build form
offers them at once:

    class MySource(SampleSource):
        name, title, kind = "my_rows", "My rows", "sft"
        def candidates(self, *, config, progress):         # progress: flywheel.jobs.progress
            for row in ...:
                yield Candidate(source=self.name, source_id=str(row.id), kind="sft",
                                messages=[...], task_type=row.task_type, reviewed=True,
                                lineage={"message_ids": [...]})

    sample_source_register(MySource())

Candidates must come out in a deterministic order (by id), so that a rebuild from the same
inputs gives the same version hash.

Per-message `mark`s tell the builder what it may supervise (see builder.supervised_messages):
  None        an ordinary assistant answer
  "ticked"    a reviewer chose to train on it (or rewrote it)
  "unticked"  a reviewer chose not to train on it
  "bad"       known to be bad (a thumbs-down or a reviewer's verdict, not rewritten)
  "context"   only context for a later answer (never supervised)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flywheel.i18n import Text
from flywheel.jobs.progress import Progress
from flywheel.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from flywheel.datasets.config import BuildConfig

MARKS = (None, "ticked", "unticked", "bad", "context")


@dataclass
class Candidate:
    source: str
    source_id: str
    """Stable id within the source (e.g. "session:12/segment:0"); sorts candidates."""
    kind: str
    """"sft" (messages) or "pair" (prompt, chosen, rejected)."""
    messages: list[dict] = field(default_factory=list)
    """SFT: [{"role", "content", "mark"?}] in order."""
    prompt: list[dict] = field(default_factory=list)
    """Pairs: the conversation before the two answers."""
    chosen: str = ""
    rejected: str = ""
    task_type: str = ""
    """Empty when nobody labelled it ("unlabeled" in the dataset)."""
    quality: int | None = None
    """1 (unusable) .. 5 (excellent), when known."""
    usable: bool | None = None
    """The labeler's "usable for training" verdict, when there is one."""
    trusted_label: bool = False
    """The task type and quality come from a person or a label marked trusted."""
    reviewed: bool = False
    """A person looked at this sample (a final review decision, an accepted construction)."""
    pseudo_multi_turn: bool = False
    cleaning_status: str = ""
    """"kept" or "flagged" for samples from logged sessions; empty otherwise."""
    topic_switched: bool = False
    """The session this came from switches topic (it was split, or would have been)."""
    session_id: int | None = None
    blocked_reason: str = ""
    """Set when the sample must stay out whatever the config (e.g. "pii_scrub_failed")."""
    lineage: dict = field(default_factory=dict)
    versions: dict[str, list[str]] = field(default_factory=dict)
    """Rule, scrubber, label and prompt versions used: {"cleaning": [...], "labels": [...], ...}."""


class SampleSource:
    name: str = ""
    title: str = ""
    kind: str = "sft"
    description: str = ""
    #: Sources with this set are chosen on the build form unless unticked.
    default: bool = True

    def available(self) -> bool:
        """False when what this source reads does not exist in this installation."""
        return True

    def candidates(self, *, config: BuildConfig, progress: Progress) -> Iterator[Candidate]:
        raise NotImplementedError


_SOURCES: Registry[SampleSource] = Registry("sample source")


def sample_source_register(source: SampleSource) -> SampleSource:
    if not source.name or not source.name.replace("_", "").isalnum():
        raise ValueError(f"a source needs a name of letters, digits and underscores, not {source.name!r}")
    if source.kind not in ("sft", "pair"):
        raise ValueError(f"source {source.name!r}: kind must be 'sft' or 'pair'")
    return _SOURCES.add(source.name, source)


def sample_sources(*, available_only: bool = True) -> list[SampleSource]:
    sources = sorted(_SOURCES.values(), key=lambda s: s.name)
    return [s for s in sources if not available_only or s.available()]


def sample_source_get(name: str) -> SampleSource:
    try:
        return _SOURCES[name]
    except KeyError:
        known = ", ".join(sorted(_SOURCES)) or "-"
        raise ValueError(Text("unknown sample source %(name)r (known: %(known)s)", name=name, known=known)) from None
