"""The packaged default: it loads, predicts with the default embedding, and carries its data, features
and held-out figures in its meta.json. Its figures are not asserted here (they are reported in
docs/continuity.md and by `continuity_evaluate`): tests check behaviour, not how good a model is."""

import numpy as np

from flywheel.continuity.engine import predict_conversations
from flywheel.continuity.evaluation import split_of
from flywheel.continuity.features import FEATURE_NAMES
from flywheel.llm.embeddings import embedding_model_name
from tests.flywheel.continuity.conftest import conversation


def test_the_packaged_model_expects_the_default_embedding_and_predicts_a_probability_per_turn(packaged_model):
    assert packaged_model.meta["embedding_model"] == embedding_model_name()
    probabilities = predict_conversations(
        [
            conversation("你看过《霸王别姬》吗？", "看过，是陈凯歌导演的。", "主演是谁？", "张国荣和张丰毅。"),
            conversation("How do I boil an egg?", "Nine minutes in boiling water.", "And a soft one?", "Six minutes."),
        ],
        packaged_model,
    )
    assert [len(p) for p in probabilities] == [2, 2] and probabilities[0][0] is None
    assert all(0 <= p <= 1 for p in (probabilities[0][1], probabilities[1][1]))


def test_the_packaged_model_records_its_data_features_thresholds_and_held_out_figures(packaged_model):
    meta = packaged_model.meta
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert set(packaged_model.thresholds) == {"zh", "en"}
    assert {"kdconv-splice-cross", "kdconv-splice-same", "crosswoz", "tiage", "all:zh", "all:en"} <= set(
        meta["evaluation"]
    )
    for part in meta["evaluation"].values():
        assert {"roc_auc", "precision_switch", "recall_switch"} <= set(part["model"]) and "roc_auc" in part["baseline"]
    assert meta["training"]["conversations"]["train"] and meta["sources"]


def test_every_conversation_the_packaged_model_held_out_is_on_the_test_side(packaged_model):
    held_out = [key for keys in packaged_model.meta["held_out"].values() for key in keys]
    assert len(held_out) > 500
    assert {split_of(key) for key in held_out} == {"test"}


def test_the_packaged_models_standardisation_is_finite(packaged_model):
    assert np.isfinite(packaged_model.mean).all() and (packaged_model.std > 0).all()
