"""Versions built from logged sessions: content-addressed, counted right, traceable to the
messages they came from, scrubbed, and shaped by reviewers' decisions."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from flywheel.datasets.exports import export_lines
from flywheel.datasets.models import DatasetSample
from flywheel.datasets.selectors import dataset_version_diff

pytestmark = pytest.mark.django_db


def lines(version, format_name: str, split: str) -> list[dict]:
    return [json.loads(line) for line in export_lines(version=version, format_name=format_name, split=split)]


def session_sample(version, session):
    return DatasetSample.objects.get(version=version, session_id=session.id, source="sessions")


def test_a_version_rebuilt_from_the_same_inputs_has_the_same_content_hash(logged_world, build_version):
    first = build_version(name="first", pseudo_multi_turn_share=0.2)
    second = build_version(name="second", pseudo_multi_turn_share=0.2)
    assert second.content_hash == first.content_hash
    assert second.id == first.id, "the same content is one version, not two"


def test_the_manifest_counts_match_the_export(logged_world, build_version):
    version = build_version(pseudo_multi_turn_share=0.2)
    counts = version.manifest["counts"]
    exported = {split: lines(version, "openai", split) for split in ("train", "eval")}
    assert len(exported["train"]) == counts["train"] == version.train_count
    assert len(exported["eval"]) == counts["eval"] == version.eval_count
    for split in ("train", "eval"):
        per_type = Counter(line["task_type"] for line in exported[split])
        assert per_type == Counter({t: c[split] for t, c in counts["by_task_type"].items() if c[split]})
    assert len(lines(version, "trl", "all")) == counts["pairs"] == 1
    assert counts["pseudo_multi_turn"] > 0


def test_the_lineage_leads_back_to_the_source_messages(logged_world, build_version):
    version = build_version()
    checked = 0
    for session in logged_world["plain"]:
        sample = session_sample(version, session)
        sources = list(logged_world["messages"].filter(id__in=sample.lineage["message_ids"]).order_by("seq"))
        assert [m.session_id for m in sources] == [session.id] * 2
        assert [(m.role, m.content) for m in sources] == [(m["role"], m["content"]) for m in sample.record["messages"]]
        checked += 1
    assert checked == len(logged_world["plain"])


def test_personal_data_is_scrubbed_before_it_reaches_a_version(logged_world, build_version):
    version = build_version()
    text = json.dumps(session_sample(version, logged_world["personal"]).record)
    assert "alice.smith@example.com" not in text and "<EMAIL>" in text


def test_a_reviewers_rewrite_is_trained_on_in_place_of_the_answer_it_replaces(logged_world, build_version):
    record = session_sample(build_version(), logged_world["rewritten"]).record
    assert record["messages"][1] == {"role": "assistant", "content": "366 days: February has 29.", "train": True}
    assert "365, as always." not in json.dumps(record)


def test_a_reviewers_labels_give_the_sample_its_task_type(logged_world, build_version):
    sample = session_sample(build_version(), logged_world["rewritten"])
    assert sample.task_type == "math" and sample.reviewed


def test_an_answer_with_a_thumbs_down_is_never_trained_on(logged_world, build_version):
    version = build_version()
    assert not DatasetSample.objects.filter(version=version, session_id=logged_world["thumbs_down"].id).exists()
    assert version.manifest["excluded"]["nothing_supervised"] >= 1


def test_a_topic_switch_marked_by_a_reviewer_splits_the_session_into_two_samples(logged_world, build_version):
    version = build_version()
    parts = list(
        DatasetSample.objects.filter(version=version, session_id=logged_world["switched"].id).order_by(
            "lineage__segment"
        )
    )
    assert [p.record["messages"][0]["content"] for p in sorted(parts, key=lambda p: p.lineage["segment"])] == [
        "How do I make pancakes fluffy?",
        "Unrelated: what is the tallest mountain on Earth?",
    ]


def test_sessions_that_switch_topic_can_be_left_out(logged_world, build_version):
    version = build_version(continuity="drop_switched")
    assert not DatasetSample.objects.filter(version=version, session_id=logged_world["switched"].id).exists()
    assert version.manifest["excluded"]["topic_switched"] == 1


def test_reviewed_only_keeps_just_the_reviewed_sessions(logged_world, build_version):
    version = build_version(reviewed_only=True, sources=["sessions"])
    sessions = set(DatasetSample.objects.filter(version=version).values_list("session_id", flat=True))
    assert sessions == {logged_world["rewritten"].id, logged_world["switched"].id}


def test_excluding_an_earlier_version_leaves_its_samples_out(logged_world, build_version):
    first = build_version(sources=["sessions"])
    second = build_version(sources=["sessions", "ingest_pairs"], exclude_versions=[first.id])
    assert second.sample_count == 1 and second.pair_count == 1
    assert second.manifest["excluded"]["in_excluded_versions"] == first.sample_count


def test_the_diff_of_two_versions_counts_added_and_removed_samples_per_task_type(logged_world, build_version):
    old = build_version(sources=["sessions"], task_types=["math", "qa"], include_unlabeled=False)
    new = build_version(sources=["sessions", "ingest_pairs"])
    diff = dataset_version_diff(old=old, new=new)
    assert (diff["added_count"], diff["removed_count"]) == (new.sample_count - old.sample_count, 0)
    rows = {row["task_type"]: row for row in diff["by_task_type"]}
    assert rows["unlabeled"]["old"] == 0 and rows["unlabeled"]["change"] == new.sample_count - old.sample_count
    assert rows["math"]["change"] == 0
    assert {c["setting"] for c in diff["config_changes"]} == {"sources", "task_types", "include_unlabeled"}


def test_a_reviewer_who_prefers_the_rejected_answer_swaps_the_pair(logged_world, build_version):
    from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit

    pair = logged_world["pair"]
    item = review_item_enqueue(
        kind="preference_pair", subject_type="pair", subject_id=str(pair.id), payload={}, session_id=pair.session_id
    )
    review_item_claim_next(queue=item.queue, user=logged_world["annotator"])
    review_item_submit(item_id=item.id, user=logged_world["annotator"], decision={"preferred": "rejected"})
    [line] = lines(build_version(sources=["ingest_pairs"]), "trl", "all")
    assert line["chosen"] == [{"role": "assistant", "content": "Just drink more coffee."}]


def test_the_exports_have_the_shapes_their_tools_read(logged_world, build_version):
    version = build_version()
    sample = session_sample(version, logged_world["rewritten"])
    split = sample.split
    by_first = lambda rows, key: next(r for r in rows if key(r))
    sharegpt = by_first(
        lines(version, "sharegpt", split), lambda r: r["conversations"][0]["value"].startswith("How many days")
    )
    assert [turn["from"] for turn in sharegpt["conversations"]] == ["human", "gpt", "human", "gpt"]
    alpaca = by_first(
        lines(version, "alpaca", split), lambda r: r["instruction"] == "And how often do leap years come?"
    )
    assert alpaca["history"] == [["How many days are in a leap year?", "366 days: February has 29."]]
    assert alpaca["output"] == "Every four years, mostly."
    [openrlhf] = lines(version, "openrlhf", "all")
    assert openrlhf["chosen"][0] == {"role": "user", "content": "Give me one tip for better sleep."}
    assert openrlhf["chosen"][-1]["content"] != openrlhf["rejected"][-1]["content"]
    lineage = lines(version, "lineage", "all")
    assert len(lineage) == version.sample_count and all("lineage" in row for row in lineage)


def test_the_openai_export_is_exactly_what_the_trainer_reads(logged_world, build_version, tmp_path):
    from training.data import read_conversations

    version = build_version()
    path = tmp_path / "train.jsonl"
    path.write_text("".join(export_lines(version=version, format_name="openai", split="train")), encoding="utf-8")
    conversations = read_conversations(path, "flagged")
    assert len(conversations) == version.train_count
    assert {c.task_type for c in conversations} == set(version.manifest["counts"]["by_task_type"])
