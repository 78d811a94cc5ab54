"""Construction's accepted samples become dataset candidates with the right supervision and
lineage."""

from __future__ import annotations

import pytest

from flywheel.construction import dataset_sources
from flywheel.construction.dataset_sources import ConstructedAnswerSource, ConstructedPairSource
from flywheel.datasets.builder import build_samples
from flywheel.datasets.config import build_config_from_dict
from flywheel.datasets.sources import sample_sources
from flywheel.jobs.progress import progress_ignored

SFT_ROW = {
    "id": 7,
    "kind": "sft",
    "task_type": "code",
    "messages": [
        {"role": "user", "content": "How do I sort a dict by value?"},
        {"role": "assistant", "content": "Use a loop."},
        {"role": "user", "content": "That did not work."},
        {"role": "assistant", "content": "sorted(d.items(), key=lambda kv: kv[1])"},
    ],
    "lineage": {
        "bad_case_id": 3,
        "session_id": 11,
        "message_id": 41,
        "candidate_prompt_version": "teacher-v2",
        "judge_prompt_versions": ["pointwise-v1"],
        "judge_models": ["judge-m"],
        "review_item_id": 99,
    },
}
PAIR_ROW = {
    "id": 8,
    "kind": "pair",
    "task_type": "code",
    "prompt_messages": SFT_ROW["messages"][:3],
    "chosen": "sorted(d.items(), key=lambda kv: kv[1])",
    "rejected": "Use a loop.",
    "margin": 3.5,
    "lineage": {"session_id": 11, "message_id": 41, "review_item_id": 100},
}


@pytest.fixture
def construction_rows(monkeypatch):
    rows = {"dataset_ready_sft_samples": [SFT_ROW], "dataset_ready_pairs": [PAIR_ROW], "dataset_ready_synthetic": []}

    def selector(name):
        def select(*, after_id=None, limit=500):
            return [row for row in rows[name] if row["id"] > (after_id or 0)][:limit]

        return select

    for name in rows:
        monkeypatch.setattr(dataset_sources, name, selector(name))
    return rows


def config(**values):
    return build_config_from_dict(values, known_sources=[s.name for s in sample_sources(available_only=False)])


def test_an_accepted_constructed_answer_is_trained_on_and_its_context_is_not(construction_rows):
    [candidate] = ConstructedAnswerSource().candidates(config=config(), progress=progress_ignored)
    [sample] = build_samples([candidate], config(sources=["constructed_sft"])).samples
    assert [m.get("train") for m in sample.record["messages"] if m["role"] == "assistant"] == [False, True]
    assert sample.reviewed and sample.task_type == "code" and sample.lineage["message_ids"] == [41]
    assert sample.versions["prompts"] == ["pointwise-v1", "teacher-v2"]


def test_an_accepted_constructed_pair_keeps_its_prompt_and_both_answers(construction_rows):
    [candidate] = ConstructedPairSource().candidates(config=config(), progress=progress_ignored)
    assert candidate.kind == "pair" and candidate.chosen.startswith("sorted(") and candidate.rejected == "Use a loop."
    assert [m["role"] for m in candidate.prompt] == ["user", "assistant", "user"]
    assert candidate.lineage["review_item_ids"] == [100]
