"""How well the packaged classifier separates continuing turns from topic switches on real
conversations it never saw (the held-out part of the public samples it was trained on, recorded
in its meta.json), against the baseline: a threshold on the embedding similarity of a turn to the
previous user turn, given the threshold that maximises its macro F1 on the very data it is scored
on (an oracle: the comparison flatters the baseline, not the classifier).

The figures are printed (pytest -s) for the report; the assertions are that the classifier beats
the baseline on ROC AUC and macro F1 on every set."""

import random

import numpy as np
import pytest

from flywheel.continuity.classifier import best_threshold, evaluate
from flywheel.continuity.data import real_conversation, spliced_negatives
from flywheel.continuity.engine import BASELINE_FEATURE, _centroids, examples
from flywheel.continuity.public_samples import hh_rlhf_conversations, kdconv_conversations

HH_EVAL = 250


@pytest.fixture(scope="module")
def held_out(packaged_model, request):
    from tests.conftest import SHARED_DATASETS

    held = packaged_model.meta["public_samples_held_out"]

    def pick(name, conversations):
        return [conversations[i] for i in held[name]]

    film = pick("kdconv-film-dev", kdconv_conversations(SHARED_DATASETS / "kdconv-film-dev.json.gz"))
    music = pick("kdconv-music-dev", kdconv_conversations(SHARED_DATASETS / "kdconv-music-dev.json.gz"))
    hh = pick("hh-rlhf", hh_rlhf_conversations(SHARED_DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz"))
    hh = [c for c in hh if sum(m["role"] == "user" for m in c.messages) >= 2][:HH_EVAL]
    return {"film": film, "music": music, "hh": hh}


def as_real(conversations):
    return [real_conversation(c.messages, group=c.group) for c in conversations]


def compare(name, conversations, model, embed):
    x, y, _, _ = examples(conversations, embed)
    scores = model.predict_proba(x)
    ours = evaluate(scores, y, model.threshold)
    baseline_scores = x[:, BASELINE_FEATURE]
    baseline = evaluate(baseline_scores, y, best_threshold(baseline_scores, y, metric="f1_macro"))
    print(f"\n{name}: n={ours['n']} switches={ours['switching']}\n"
          f"  classifier acc={ours['accuracy']} f1_continue={ours['f1_continue']} f1_switch={ours['f1_switch']} "
          f"f1_macro={ours['f1_macro']} roc_auc={ours['roc_auc']}\n"
          f"  baseline   acc={baseline['accuracy']} f1_continue={baseline['f1_continue']} f1_switch={baseline['f1_switch']} "
          f"f1_macro={baseline['f1_macro']} roc_auc={baseline['roc_auc']}")
    return ours, baseline


def assert_beats(ours, baseline):
    assert ours["roc_auc"] > baseline["roc_auc"]
    assert ours["f1_macro"] > baseline["f1_macro"]


def test_kdconv_entity_changes_are_told_apart_better_than_by_previous_turn_similarity(held_out, packaged_model,
                                                                                       embedding_cache):
    ours, baseline = compare("KdConv film+music, entity changes", held_out["film"] + held_out["music"],
                             packaged_model, embedding_cache)
    assert_beats(ours, baseline)


def test_same_domain_kdconv_splices_are_found_better_than_by_previous_turn_similarity(held_out, packaged_model,
                                                                                       embedding_cache):
    film = as_real(held_out["film"])
    spliced = spliced_negatives(film, rng=random.Random(7), centroids=_centroids(film, embedding_cache), hard_share=1.0)
    ours, baseline = compare("KdConv film spliced into film (hardest donors)", film + spliced, packaged_model,
                             embedding_cache)
    assert_beats(ours, baseline)


def test_cross_domain_kdconv_splices_are_found_better_than_by_previous_turn_similarity(held_out, packaged_model,
                                                                                        embedding_cache):
    film, music = as_real(held_out["film"]), as_real(held_out["music"])
    spliced = spliced_negatives(film, rng=random.Random(8), donors=music, hard_share=0.0)
    ours, baseline = compare("KdConv music spliced into film", film + spliced, packaged_model, embedding_cache)
    assert_beats(ours, baseline)


def test_spliced_hh_rlhf_sessions_are_found_better_than_by_previous_turn_similarity(held_out, packaged_model,
                                                                                    embedding_cache):
    hh = held_out["hh"]
    rng = random.Random(9)
    spliced = spliced_negatives(hh, rng=rng, hard_share=0.0)
    spliced += spliced_negatives(hh, rng=rng, centroids=_centroids(hh, embedding_cache), hard_share=1.0)
    ours, baseline = compare("hh-rlhf spliced (random and hardest donors)", hh + spliced, packaged_model,
                             embedding_cache)
    assert_beats(ours, baseline)
    assert ours["roc_auc"] > 0.85 and np.isfinite(ours["accuracy"])
