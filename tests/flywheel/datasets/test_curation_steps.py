"""The builder's curation steps on plain candidates (no database): IFD filtering (Cherry's drop
above 1, top share per task type), diversity selection (K-Center-Greedy, cluster sampling), what
each step removed, and a content hash that the same settings reproduce."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from flywheel.datasets.builder import build_samples
from flywheel.datasets.config import build_config_from_dict
from flywheel.datasets.sources import Candidate


def config(**values):
    return build_config_from_dict({"sources": ["sessions"], "eval_fraction": 0, **values}, known_sources=["sessions"])


def conversation(index: int, task_type: str = "qa", turns: int = 1) -> Candidate:
    messages = []
    for turn in range(turns):
        messages += [
            {"role": "user", "content": f"question {index}.{turn}", "mark": None},
            {"role": "assistant", "content": f"answer {index}.{turn}", "mark": None},
        ]
    return Candidate(
        source="sessions",
        source_id=f"{index:06d}",
        kind="sft",
        messages=messages,
        task_type=task_type,
        session_id=index,
    )


def fake_embed(texts):
    """Deterministic unit vectors from the text (a stand-in for the sentence model)."""
    rows = []
    for text in texts:
        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        rows.append(np.random.default_rng(seed).standard_normal(16))
    vectors = np.asarray(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def plain_hashes(pool):
    return {s.sample_hash: s for s in build_samples(pool, config()).samples}


def test_curation_settings_left_at_their_defaults_do_not_change_the_stored_config():
    assert not {"ifd_model", "diversity", "diversity_k"} & set(config().as_dict())


def test_ifd_above_one_unsupervises_the_turn_and_drops_conversations_left_with_none():
    pool = [conversation(0, turns=2), conversation(1), conversation(2)]
    samples = plain_hashes(pool)
    by_index = {int(s.record["messages"][0]["content"].split()[1].split(".")[0]): h for h, s in samples.items()}
    scores = {(by_index[0], 1): 0.8, (by_index[0], 3): 1.3, (by_index[1], 1): 1.1}  # conversation 2: unscored
    outcome = build_samples(pool, config(ifd_model="/models/base"), ifd_scores=scores)
    assert len(outcome.samples) == 2
    two_turns = next(s for s in outcome.samples if len(s.record["messages"]) == 4)
    assert [m.get("train") for m in two_turns.record["messages"] if m["role"] == "assistant"] == [True, False]
    assert outcome.excluded["ifd_above_1"] == 1 and outcome.excluded["ifd_unscored_kept"] == 1
    assert outcome.curation["ifd"] == {
        "model": "/models/base",
        "mode": "drop_above_1",
        "turns_unsupervised": 2,
        "samples_removed": 1,
        "samples_unscored": 1,
    }


def test_ifd_top_share_keeps_the_hardest_conversations_of_each_task_type():
    pool = [conversation(i, "qa" if i < 4 else "code") for i in range(8)]
    hashes = sorted(plain_hashes(pool))
    scores = {(h, 1): 0.1 * (rank + 1) for rank, h in enumerate(hashes)}
    outcome = build_samples(pool, config(ifd_model="/m", ifd_mode="top_share", ifd_top_share=0.5), ifd_scores=scores)
    kept = {s.task_type: [] for s in outcome.samples}
    for sample in outcome.samples:
        kept[sample.task_type].append(scores[(sample.sample_hash, 1)])
    assert {task: len(values) for task, values in kept.items()} == {"qa": 2, "code": 2}
    assert outcome.excluded["ifd_below_top_share"] == 4


@pytest.mark.parametrize("method", ["kcenter", "cluster_uniform", "cluster_log"])
def test_diversity_keeps_k_conversations_and_the_same_settings_give_the_same_content_hash(method):
    pool = [conversation(i) for i in range(30)]
    settings = config(diversity=method, diversity_k=10, diversity_clusters=4, seed=3)
    first = build_samples(pool, settings, embed=fake_embed)
    again = build_samples(list(reversed(pool)), settings, embed=fake_embed)
    assert len(first.samples) == 10 and first.excluded["diversity_not_selected"] == 20
    assert first.content_hash == again.content_hash
    assert first.curation["diversity"]["removed"] == 20


def test_k_center_diversity_records_the_coverage_radius():
    outcome = build_samples(
        [conversation(i) for i in range(12)], config(diversity="kcenter", diversity_k=5), embed=fake_embed
    )
    assert outcome.curation["diversity"]["coverage_radius"] > 0


def test_k_larger_than_the_conversations_left_is_a_clear_error():
    with pytest.raises(ValueError, match="diversity_k=50 is larger than the 12 conversations"):
        build_samples(
            [conversation(i) for i in range(12)], config(diversity="kcenter", diversity_k=50), embed=fake_embed
        )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"diversity": "kcenter"}, "needs diversity_k"),
        ({"diversity": "random"}, "diversity must be one of"),
        ({"ifd_mode": "sometimes"}, "ifd_mode must be one of"),
    ],
)
def test_bad_curation_settings_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        config(**values)


def test_a_reward_threshold_leaves_out_low_rewards_and_keeps_unscored_conversations_counted():
    pool = [conversation(i) for i in range(4)]
    hashes = sorted(plain_hashes(pool))
    rewards = {hashes[0]: -1.0, hashes[1]: 0.5, hashes[2]: 2.0}  # hashes[3]: no reward
    outcome = build_samples(pool, config(quality_model="/rm", quality_min=0.0), rewards=rewards)
    assert sorted(s.sample_hash for s in outcome.samples) == hashes[1:]
    assert outcome.excluded["quality_below_min"] == 1 and outcome.excluded["quality_unscored_kept"] == 1


def test_a_reward_model_without_a_threshold_is_refused():
    with pytest.raises(ValueError, match="quality_model and quality_min go together"):
        config(quality_model="/rm")
