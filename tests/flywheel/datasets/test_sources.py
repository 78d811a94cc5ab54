"""A source registered later is offered by the builder without any change to it."""

from __future__ import annotations

from flywheel.datasets import sources
from flywheel.datasets.builder import build_samples
from flywheel.datasets.config import build_config_from_dict
from flywheel.datasets.sources import Candidate, SampleSource, sample_source_register, sample_sources


def config(**values):
    return build_config_from_dict(values, known_sources=[s.name for s in sample_sources(available_only=False)])


class Notes(SampleSource):
    name, title, kind = "notes_for_test", "Notes", "sft"

    def candidates(self, *, config, progress):
        yield Candidate(
            source=self.name,
            source_id="1",
            kind="sft",
            task_type="qa",
            messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        )


def test_a_source_registered_later_is_offered_and_built_from(monkeypatch):
    monkeypatch.setattr(sources, "_SOURCES", sources._SOURCES.copy())  # the registry is as it was after this test
    sample_source_register(Notes())
    assert "notes_for_test" in [s.name for s in sample_sources()]
    source = [s for s in sample_sources() if s.name == "notes_for_test"][0]
    outcome = build_samples(source.candidates(config=None, progress=print), config(sources=["notes_for_test"]))
    assert [s.source for s in outcome.samples] == ["notes_for_test"]
