"""The builder's core on plain candidates (no database): supervision, filters, mix, split,
pseudo multi-turn, replay, deduplication and a content hash that depends only on content."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from flywheel.datasets.builder import build_samples, supervised_messages
from flywheel.datasets.config import build_config_from_dict
from flywheel.datasets.sources import Candidate

SOURCES = ["sessions", "ingest_pairs"]


def config(**values):
    return build_config_from_dict({"sources": ["sessions"], **values}, known_sources=SOURCES)


def conversation(index: int, task_type: str = "qa", turns: int = 1, **fields) -> Candidate:
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
        lineage={"message_ids": [index * 10 + i for i in range(len(messages))]},
        **fields,
    )


def candidates(n_per_type: dict[str, int]) -> list[Candidate]:
    out, index = [], 0
    for task_type, n in n_per_type.items():
        for _ in range(n):
            out.append(conversation(index, task_type))
            index += 1
    return out


def flags(messages):
    return [m.get("train") for m in messages if m["role"] == "assistant"]


CONVERSATION = [
    {"role": "system", "content": "Be brief.", "mark": None},
    {"role": "user", "content": "a", "mark": None},
    {"role": "assistant", "content": "A", "mark": None},
    {"role": "user", "content": "b", "mark": None},
    {"role": "assistant", "content": "B", "mark": "bad"},
    {"role": "user", "content": "c", "mark": None},
    {"role": "assistant", "content": "C", "mark": "ticked"},
    {"role": "user", "content": "d", "mark": None},
    {"role": "assistant", "content": "D", "mark": "unticked"},
]


def test_supervising_all_turns_skips_bad_and_unticked_answers_and_ends_at_the_last_trained_one():
    messages = supervised_messages(CONVERSATION, "all")
    assert flags(messages) == [True, False, True]
    assert messages[-1]["content"] == "C"


def test_supervising_the_last_turn_trains_only_the_last_usable_answer():
    assert flags(supervised_messages(CONVERSATION, "last")) == [False, False, True]


def test_supervising_reviewed_turns_trains_only_what_a_reviewer_ticked():
    assert flags(supervised_messages(CONVERSATION, "reviewed")) == [False, False, True]


def test_a_conversation_with_nothing_to_supervise_is_left_out():
    only_bad = [{"role": "user", "content": "q", "mark": None}, {"role": "assistant", "content": "x", "mark": "bad"}]
    outcome = build_samples([Candidate(source="sessions", source_id="1", kind="sft", messages=only_bad)], config())
    assert outcome.samples == [] and outcome.excluded == Counter({"nothing_supervised": 1})


def test_the_content_hash_does_not_depend_on_the_order_candidates_arrive_in():
    pool = candidates({"qa": 20, "coding": 10})
    shuffled = pool[:]
    random.Random(3).shuffle(shuffled)
    assert build_samples(pool, config()).content_hash == build_samples(shuffled, config()).content_hash


def test_the_content_hash_changes_with_the_content_and_with_the_settings():
    pool = candidates({"qa": 20})
    base = build_samples(pool, config()).content_hash
    assert build_samples(pool[:-1], config()).content_hash != base
    assert build_samples(pool, config(seed=1)).content_hash != base


def test_the_split_holds_out_the_same_share_of_every_task_type():
    outcome = build_samples(candidates({"qa": 40, "coding": 20, "math": 10}), config(eval_fraction=0.1))
    held_out = Counter(s.task_type for s in outcome.samples if s.split == "eval")
    assert held_out == Counter({"qa": 4, "coding": 2, "math": 1})


def test_the_split_is_the_same_for_the_same_seed_and_differs_for_another():
    pool = candidates({"qa": 50})
    eval_of = lambda seed: {s.sample_hash for s in build_samples(pool, config(seed=seed)).samples if s.split == "eval"}
    assert eval_of(0) == eval_of(0)
    assert eval_of(0) != eval_of(1)


def test_mix_weights_keep_a_share_of_easy_types_and_weight_hard_ones():
    outcome = build_samples(candidates({"chitchat": 40, "coding": 10}), config(mix={"chitchat": 0.25, "coding": 2}))
    kept = Counter(s.task_type for s in outcome.samples)
    assert kept == Counter({"chitchat": 10, "coding": 10})
    assert {s.weight for s in outcome.samples if s.task_type == "coding"} == {2.0}
    assert outcome.excluded["mix_subsampled"] == 30


def test_a_cap_keeps_each_task_types_share():
    outcome = build_samples(candidates({"qa": 60, "coding": 30, "math": 10}), config(max_samples=50))
    assert Counter(s.task_type for s in outcome.samples) == Counter({"qa": 30, "coding": 15, "math": 5})


def test_filters_leave_out_what_was_not_asked_for_and_say_why():
    pool = [
        conversation(1, "qa", quality=2),
        conversation(2, "coding", reviewed=True),
        conversation(3, ""),
        conversation(4, "qa", cleaning_status="flagged"),
        conversation(5, "qa", topic_switched=True),
        conversation(6, "qa", usable=False),
    ]
    outcome = build_samples(pool, config(task_types=["qa", "coding"], min_quality=3, continuity="drop_switched"))
    assert [s.task_type for s in outcome.samples] == ["coding"]
    assert outcome.excluded == Counter(
        {
            "quality_below_minimum": 1,
            "task_type_not_chosen": 1,
            "cleaning_flagged": 1,
            "topic_switched": 1,
            "labeled_unusable": 1,
        }
    )


def test_the_same_conversation_from_two_places_is_kept_once():
    twin = conversation(1, "qa")
    twin.source_id = "999999"
    outcome = build_samples([conversation(1, "qa"), twin], config())
    assert len(outcome.samples) == 1 and outcome.excluded["duplicate"] == 1


def test_samples_of_excluded_versions_are_left_out():
    pool = candidates({"qa": 10})
    first = build_samples(pool, config())
    seen = {first.samples[0].sample_hash}
    again = build_samples(pool, config(), seen_hashes=seen)
    assert len(again.samples) == 9 and again.excluded["in_excluded_versions"] == 1


def test_pseudo_multi_turn_conversations_make_up_the_asked_share_of_each_split():
    outcome = build_samples(
        candidates({"qa": 45, "coding": 45}), config(pseudo_multi_turn_share=0.1, eval_fraction=0.2)
    )
    for split in ("train", "eval"):
        sft = [s for s in outcome.samples if s.split == split]
        pseudo = [s for s in sft if s.pseudo_multi_turn]
        assert len(pseudo) == round(0.1 * (len(sft) - len(pseudo)) / 0.9)
        parts = {h for p in pseudo for h in p.lineage["parts"]}
        assert parts <= {s.sample_hash for s in sft}, "pseudo conversations are made of their own split's samples"
    assert all(m["content"].startswith(("question", "answer")) for p in pseudo for m in p.record["messages"])


def test_replay_conversations_make_up_the_asked_share_and_are_trained_on():
    replay = [
        {
            "messages": [
                {"role": "user", "content": f"general {i}", "mark": None},
                {"role": "assistant", "content": f"reply {i}", "mark": None},
            ],
            "line": i + 1,
        }
        for i in range(50)
    ]
    outcome = build_samples(
        candidates({"qa": 45}), config(replay_file="general.jsonl", replay_share=0.1), replay_records=replay
    )
    replayed = [s for s in outcome.samples if s.source == "replay"]
    assert len(replayed) == 5 and {s.task_type for s in replayed} == {"general"}
    assert all(flags(s.record["messages"]) == [True] for s in replayed)


def test_pairs_are_kept_with_both_answers_and_split_by_task_type():
    pairs = [
        Candidate(
            source="ingest_pairs",
            source_id=f"{i:04d}",
            kind="pair",
            prompt=[{"role": "user", "content": f"q{i}"}],
            chosen=f"good {i}",
            rejected=f"bad {i}",
            task_type="qa",
        )
        for i in range(10)
    ]
    pairs.append(
        Candidate(source="ingest_pairs", source_id="9999", kind="pair", prompt=[], chosen="same", rejected="same")
    )
    outcome = build_samples(pairs, config(sources=["ingest_pairs"]))
    assert len(outcome.samples) == 10 and outcome.excluded["pair_answers_missing_or_equal"] == 1
    assert Counter(s.split for s in outcome.samples) == Counter({"train": 9, "eval": 1})


@pytest.mark.parametrize(
    "values, message",
    [
        ({"supervision": "most"}, "supervision must be one of"),
        ({"eval_fraction": 0.9}, "eval_fraction must be between 0 and 0.5"),
        ({"mix": {"coding": -1}}, "weight of coding must be between 0 and 100"),
        ({"replay_share": 0.2}, "replay_share needs a replay_file"),
        ({"replay_file": "../secrets.jsonl", "replay_share": 0.1}, "not a path"),
        ({"sources": ["nowhere"]}, "unknown or unavailable sample source"),
        ({"suprevision": "all"}, "unknown build setting"),
    ],
)
def test_a_wrong_setting_is_refused_with_its_name(values, message):
    with pytest.raises(ValueError, match=message):
        config(**values)
