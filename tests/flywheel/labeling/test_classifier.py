"""The offline task-type classifier: its data, split, weights, held-out figures and custom taxonomies.

Floors here are below the figures docs/engineers.md reports, so a worse change fails and noise
does not. The held-out requests were written by the same people as the training ones: these
figures overstate accuracy on real traffic (the docs say so). The check set was written apart,
in the style of real instruction sets, and is never trained on: a second opinion."""

import json

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from flywheel.i18n import shown
from flywheel.labeling import classifier
from flywheel.labeling.classifier import (
    CHECK_FILE,
    MODEL_FILE,
    TaskTypeModel,
    examples_for,
    fingerprint,
    held_out_outcomes,
    is_held_out,
    load_examples,
    split_examples,
    summarise,
    task_type_model,
    train_and_report,
)
from flywheel.labeling.taxonomy import Taxonomy, taxonomy
from flywheel.llm.embeddings import embed_texts


def test_the_labelled_set_has_hundreds_of_requests_per_main_type_in_both_languages():
    counts = {}
    for example in load_examples(classifier.DATA_FILE, taxonomy()):
        counts[(example.task_type, example.language)] = counts.get((example.task_type, example.language), 0) + 1
    for task_type in ("qa", "writing", "nlp", "code", "math"):
        assert counts[(task_type, "zh")] >= 90 and counts[(task_type, "en")] >= 90, task_type
    for task_type in taxonomy().type_names():
        assert counts.get((task_type, "zh"), 0) >= 25 and counts.get((task_type, "en"), 0) >= 25, task_type


def test_the_held_out_split_is_fixed_by_text_and_shares_no_request_or_near_copy_with_training():
    split = split_examples(examples_for(taxonomy()))
    train_texts = {e.text for e in split.train}
    assert split.held_out and not train_texts & {e.text for e in split.held_out}
    assert all(is_held_out(e.text) for e in split.held_out)
    assert is_held_out("Who painted the Mona Lisa?") == is_held_out("  who painted the mona lisa?")
    assert 0.15 < len(split.held_out) / (len(split.train) + len(split.held_out)) < 0.25


def test_the_committed_weights_were_fitted_on_the_data_and_taxonomy_in_the_repository():
    stored = TaskTypeModel.load(MODEL_FILE)
    assert stored.meta["fingerprint"] == fingerprint(taxonomy()), (
        "the labelled data or the taxonomy changed: refit with "
        "`manage.py label --offline --report --refit --save flywheel/labeling/data/task_types_model.npz`"
    )


def test_the_classifier_reaches_its_floor_on_the_held_out_split_in_each_language():
    model = task_type_model(taxonomy())
    split = split_examples(examples_for(taxonomy()))
    outcomes = held_out_outcomes(model, split.held_out, embed=embed_texts)
    report = summarise(outcomes, types=model.types, min_confidence=0.5)
    assert report["accuracy"] >= 0.85
    assert report["by_language"]["zh"]["accuracy"] >= 0.85 and report["by_language"]["en"]["accuracy"] >= 0.8
    for task_type in ("qa", "writing", "nlp", "code", "math", "translation", "chitchat"):
        assert report["by_type"][task_type]["all"]["accuracy"] >= 0.75, task_type
    assert min(row["all"]["accuracy"] for row in report["by_type"].values()) >= 0.5
    # The figures stored with the weights are the ones these weights give today.
    stored = {(o["task_type"], o["predicted"]) for o in model.meta["held_out_outcomes"]}
    agree = sum((o["task_type"], o["predicted"]) in stored for o in outcomes) / len(outcomes)
    assert agree >= 0.99


def test_the_check_set_is_never_trained_on_and_covers_every_type_in_both_languages():
    check = load_examples(CHECK_FILE, taxonomy())
    trained = {classifier._normalised(e.text) for e in examples_for(taxonomy())}
    assert not trained & {classifier._normalised(e.text) for e in check}
    languages = {(e.task_type, e.language) for e in check}
    assert all((t, lang) in languages for t in taxonomy().type_names() for lang in ("zh", "en"))


def test_the_classifier_reaches_its_floor_on_the_check_set_written_apart():
    model = task_type_model(taxonomy())
    report = summarise(model.meta["check_outcomes"], types=model.types, min_confidence=0.5)
    assert report["n"] >= 800 and report["accuracy"] >= 0.9
    assert report["by_language"]["zh"]["accuracy"] >= 0.9 and report["by_language"]["en"]["accuracy"] >= 0.88
    for task_type in ("qa", "writing", "nlp", "code", "math"):
        for language in ("zh", "en"):
            assert report["by_type"][task_type][language]["accuracy"] >= 0.85, (task_type, language)
    assert min(row["all"]["accuracy"] for row in report["by_type"].values()) >= 0.6
    # The stored figures are the ones these weights give today.
    check = classifier._drop_near_copies(
        split_examples(examples_for(taxonomy())).train, load_examples(CHECK_FILE, taxonomy())
    )
    outcomes = held_out_outcomes(model, check, embed=embed_texts)
    stored = model.meta["check_outcomes"]
    assert len(outcomes) == len(stored)
    assert sum(a["predicted"] == b["predicted"] for a, b in zip(outcomes, stored)) / len(stored) >= 0.99


def test_confidence_is_calibrated_on_the_held_out_split():
    model = task_type_model(taxonomy())
    report = summarise(model.meta["held_out_outcomes"], types=model.types, min_confidence=0.5)
    calibration = report["calibration"]
    assert calibration["expected_calibration_error"] < 0.08
    assert calibration["accuracy_when_confident"] > report["accuracy"]


def test_refitting_from_the_data_reproduces_the_committed_weights():
    stored = TaskTypeModel.load(MODEL_FILE)
    refit = train_and_report(taxonomy())
    assert refit.types == stored.types and refit.pairs == stored.pairs
    assert abs(refit.temperature - stored.temperature) < 0.02
    assert np.allclose(refit.coef, stored.coef, atol=0.02)
    same = [
        a["predicted"] == b["predicted"]
        for a, b in zip(refit.meta["held_out_outcomes"], stored.meta["held_out_outcomes"])
    ]
    assert sum(same) / len(same) >= 0.99


@pytest.mark.parametrize(
    ("request_text", "task_type"),
    [
        ("写一首关于春天的小诗", "writing"),
        ("Write me a short poem about the rain", "writing"),
        ("推荐几首适合开车听的歌吧", "qa"),
        ("Can you recommend some chill songs for a rainy evening?", "qa"),
        ("把这段话润色一下，让它更正式：我们下周再聊这个事。", "writing"),
        ("用英文写一封感谢信给我的导师", "writing"),
        ("请问光年是时间单位还是距离单位？", "qa"),
        ("总结一下这段话的大意：会议决定下个月开始试行弹性工作制，员工可以自行选择上班时间。", "nlp"),
        ("把这句话翻译成英文：明天见。", "translation"),
        ("写个Python函数，计算列表的中位数", "code"),
        ("计算 37 乘以 48", "math"),
    ],
)
def test_the_confusions_people_reported_are_resolved(request_text, task_type):
    (prediction,) = task_type_model(taxonomy()).predict([request_text], embed_texts)
    assert prediction.task_type == task_type


def test_a_line_of_labelled_data_that_does_not_fit_the_taxonomy_is_a_clear_error(tmp_path):
    data = tmp_path / "bad.jsonl"
    good = {"text": "hi", "language": "en", "task_type": "chitchat", "task_subtype": "greeting"}
    bad = {**good, "task_type": "poetry"}
    data.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(ImproperlyConfigured, match=r"bad.jsonl:2: .*poetry"):
        load_examples(data, taxonomy())


@pytest.fixture
def custom_taxonomy(tmp_path, settings):
    """A support-desk taxonomy with a handful of examples per type, fitted under a fresh var dir."""
    types = {
        "billing": {
            "title": "Billing",
            "subtypes": {
                "refund": ["I want my money back", "退款什么时候到账？", "Please refund my last order"],
                "invoice": ["Send me an invoice for March", "我需要开发票", "Where can I download my invoice?"],
            },
        },
        "shipping": {
            "title": "Shipping",
            "subtypes": {
                "tracking": ["Where is my package?", "我的快递到哪了", "Track order 1234 please", "物流怎么一直不更新"],
                "address": ["Change my delivery address", "收货地址填错了怎么改"],
            },
        },
        "other": {
            "title": "Other",
            "subtypes": {"other": ["hello", "你好", "What are your opening hours?", "你们是什么公司"]},
        },
    }
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(types, ensure_ascii=False), encoding="utf-8")
    settings.FLYWHEEL_LABEL_TAXONOMY = str(path)
    settings.VAR_DIR = tmp_path / "var"
    return taxonomy()


def test_a_custom_taxonomy_retrains_from_its_own_examples_and_says_how_few_they_are(custom_taxonomy, caplog):
    with caplog.at_level("WARNING", logger="flywheel.labeling.classifier"):
        model = task_type_model(custom_taxonomy)
    assert model.types == ["billing", "other", "shipping"]
    (warning,) = [w for w in map(shown, model.meta["warnings"]) if w.startswith("custom taxonomy")]
    assert "billing" in warning and "shipping" in warning and "add examples" in warning
    assert "custom taxonomy" in caplog.text
    assert list((custom_taxonomy_var := classifier._cache_path(model.meta["fingerprint"])).parent.glob("*.npz"))
    assert TaskTypeModel.load(custom_taxonomy_var).meta["fingerprint"] == model.meta["fingerprint"]
    (prediction,) = model.predict(["我的包裹怎么还没到？"], embed_texts)
    assert (prediction.task_type, prediction.task_subtype) == ("shipping", "tracking")


def test_a_taxonomy_with_a_single_example_per_type_still_labels_and_warns(tmp_path, settings):
    path = tmp_path / "tiny.json"
    tiny = {"a": {"subtypes": {"x": ["write a poem"]}}, "b": {"subtypes": {"y": ["fix my python bug"]}}}
    path.write_text(json.dumps(tiny), encoding="utf-8")
    settings.FLYWHEEL_LABEL_TAXONOMY = str(path)
    settings.VAR_DIR = tmp_path / "var"
    model = task_type_model(Taxonomy(types=tiny))
    assert model.meta["held_out_outcomes"] == [] or len(model.meta["held_out_outcomes"]) <= 1
    assert any("custom taxonomy" in shown(w) for w in model.meta["warnings"])
    (prediction,) = model.predict(["my python code crashes with a bug"], embed_texts)
    assert prediction.task_type == "b"


def test_a_taxonomy_without_any_example_is_refused_with_a_clear_error(tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    empty = Taxonomy(types={"a": {"title": "A", "subtypes": {"x": []}}, "b": {"title": "B", "subtypes": {"y": []}}})
    with pytest.raises(ImproperlyConfigured, match="no example request"):
        task_type_model(empty)
