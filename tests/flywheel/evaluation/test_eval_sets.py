"""Evaluation sets: immutable, content-addressed, refused whole on a bad item, checked for overlap."""

import pytest
from django.core.management.base import CommandError

from flywheel.evaluation.models import EvalItem, EvalSet
from flywheel.evaluation.services import eval_set_create, eval_set_overlap, overlap_warning
from tests.flywheel.evaluation.conftest import ITEMS, command_json

pytestmark = pytest.mark.django_db


def test_eval_set_create_prints_the_id_last_and_the_same_content_gives_the_same_set(items_file):
    first = command_json("eval_set_create", "--name", "smoke", "--file", str(items_file()))
    again = command_json("eval_set_create", "--name", "other name", "--file", str(items_file(name="copy.jsonl")))
    assert first["id"] == again["id"] and first["created"] and not again["created"]
    eval_set = EvalSet.objects.get(id=first["id"])
    assert eval_set.item_count == 3
    assert list(eval_set.items.values_list("reference", flat=True)) == ["42", "Paris.", ""]


def test_an_unknown_task_type_is_accepted_as_its_own_group(items_file):
    created = command_json("eval_set_create", "--name", "smoke", "--file", str(items_file()))
    assert created["task_types"] == {"math": 1, "qa": 1, "brand-new-type": 1}


def test_an_item_without_a_user_turn_is_refused_with_its_line_and_nothing_is_written(items_file):
    bad = ITEMS[:2] + [{"messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}]}]
    with pytest.raises(CommandError, match="line 3: the item has no user turn"):
        command_json("eval_set_create", "--name", "bad", "--file", str(items_file(bad)))
    assert not EvalSet.objects.exists() and not EvalItem.objects.exists()


def test_overlap_with_a_training_split_is_named_by_item_and_version():
    from flywheel.datasets.models import DatasetSample, DatasetVersion

    eval_set, _ = eval_set_create(name="s", items=ITEMS, source="upload")
    version = DatasetVersion.objects.create(content_hash="f" * 64)
    DatasetSample.objects.create(
        version=version,
        position=0,
        split="train",
        kind="sft",
        sample_hash="a" * 64,
        task_type="qa",
        source="test",
        record={
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris.", "train": True},
            ]
        },
    )
    DatasetSample.objects.create(
        version=version,
        position=1,
        split="train",
        kind="sft",
        sample_hash="b" * 64,
        task_type="math",
        source="test",
        record={
            "messages": [
                {"role": "user", "content": "What is 6 times 7?"},
                {"role": "assistant", "content": "Forty-two."},
            ]
        },
    )
    overlap = eval_set_overlap(eval_set=eval_set, dataset_version_ids=[version.id])
    assert overlap == [
        {"position": 0, "version": version.id, "match": "prompt"},
        {"position": 1, "version": version.id, "match": "conversation"},
    ]
    assert f"item 2 (conversation in the train split of v{version.id})" in overlap_warning(overlap)
