"""Splits made before splicing, the evaluation sets, and thresholds per language."""

import numpy as np
import pytest

from flywheel.continuity.classifier import TrainedClassifier, language_thresholds, turn_language
from flywheel.continuity.evaluation import (
    PINNED,
    evaluation_sets,
    split_of,
    split_sources,
    training_conversations,
)
from flywheel.continuity.public_samples import crosswoz_conversations, public_sample_sets, tiage_conversations


@pytest.fixture(scope="module")
def sides():
    from tests.support.datasets import SHARED_DATASETS

    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"the public samples are expected in {SHARED_DATASETS}")
    sets = {name: conversations[:60] for name, conversations in public_sample_sets(SHARED_DATASETS).items()}
    return split_sources(sets)


def keys_of(conversations):
    """Every conversation a list draws on: hosts and splice donors."""
    return {key for c in conversations for key in (c.meta.get("key"), c.meta.get("donor_key")) if key}


def random_embed(texts):
    rng = np.random.default_rng(len(texts))
    return rng.normal(size=(len(texts), 8)).astype(np.float32)


def test_no_conversation_is_on_two_sides_of_the_split(sides):
    train, validation, test = (
        keys_of(c for convs in sides[s].values() for c in convs) for s in ("train", "validation", "test")
    )
    assert train and validation and test
    assert not train & test and not train & validation and not validation & test


def test_splices_take_their_donors_from_their_own_side_only(sides):
    own = {side: keys_of(c for convs in sides[side].values() for c in convs) for side in sides}
    trained_on = training_conversations(sides["train"], embed=random_embed)
    assert any(c.origin.startswith("spliced") for c in trained_on)
    assert keys_of(trained_on) <= own["train"]
    for evaluation_set in evaluation_sets(sides["test"]).values():
        assert keys_of(evaluation_set.conversations) <= own["test"]


def test_the_side_of_a_conversation_depends_on_its_key_alone():
    assert split_of("crosswoz/123") == split_of("crosswoz/123")
    assert {split_of(f"tiage/x/{i}") for i in range(200)} == {"train", "validation", "test"}


def test_conversations_the_previous_model_held_out_stay_on_the_test_side():
    for source, indices in PINNED["test"].items():
        assert all(split_of(f"{source}/{i}") == "test" for i in indices[:20])


def test_the_evaluation_sets_cover_every_source_with_its_language(sides):
    sets = evaluation_sets(sides["test"])
    assert {name: s.language for name, s in sets.items()} == {
        "kdconv-splice-cross": "zh",
        "kdconv-splice-same": "zh",
        "kdconv-entity": "zh",
        "crosswoz": "zh",
        "tiage": "en",
        "hh-rlhf-splice": "en",
    }


def test_a_crosswoz_move_to_another_domain_is_a_new_topic(shared_datasets):
    conversation = crosswoz_conversations(shared_datasets / "crosswoz-val.json.gz")[1]
    users = [m["content"] for m in conversation.messages if m["role"] == "user"]
    labelled = dict(zip(users, conversation.labels))
    assert labelled["好的，这家酒店的电话是多少？"] == 1
    assert labelled[next(u for u in users if "餐馆" in u and "吃点东西" in u)] == 0
    assert labelled["太好了，十分感谢！"] is None  # thanks: no subject


def test_tiage_shift_labels_become_new_topics_for_either_speaker_as_the_user(shared_datasets):
    views = [c for c in tiage_conversations(shared_datasets / "tiage-train.json.gz") if c.meta["key"].endswith("/1")]
    assert len(views) == 2
    first, second = views
    assert first.messages[0]["content"].startswith("hey ! do you love cats")
    assert first.labels[2] == 0  # "yeah , i have a weakness for cats ..." shifts (label "1")
    assert second.messages[0]["content"].startswith("hey . . . i am a dog person")


def test_thresholds_are_chosen_per_language_when_the_languages_differ():
    rng = np.random.default_rng(0)
    labels = np.array([1, 0] * 200)
    languages = ["zh"] * 200 + ["en"] * 200
    # Chinese switches score around 0.7, English ones around 0.2; continuing turns sit above both.
    scores = np.where(labels == 1, 0.9, np.where(np.arange(400) < 200, 0.7, 0.2)) + rng.normal(0, 0.01, 400)
    overall, per_language = language_thresholds(scores, labels, languages)
    assert 0.7 < per_language["zh"] <= 0.9 and 0.2 < per_language["en"] <= 0.7


def test_a_turn_is_judged_by_the_threshold_of_its_language(packaged_model):
    from flywheel.continuity.services import ActiveModel

    classifier = TrainedClassifier(
        net=packaged_model.net,
        mean=packaged_model.mean,
        std=packaged_model.std,
        threshold=0.5,
        meta={},
        thresholds={"zh": 0.8, "en": 0.2},
    )
    model = ActiveModel(version="v", classifier=classifier, threshold=0.5, packaged=True)
    assert turn_language("这部电影的导演是谁？") == "zh" and turn_language("Who directed it?") == "en"
    assert model.threshold_for("这部电影的导演是谁？") == 0.8 and model.threshold_for("Who directed it?") == 0.2
    overridden = ActiveModel(version="v", classifier=classifier, threshold=0.3, packaged=True, override=0.3)
    assert overridden.threshold_for("这部电影的导演是谁？") == 0.3 == overridden.threshold_for("Who directed it?")
