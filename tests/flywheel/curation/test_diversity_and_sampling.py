"""Diversity views and sampling strategies: pure functions, no database."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.curation.diversity import Item, analyse, form_view, top_terms, use_view
from flywheel.curation.sampling import log_proportional_per_cluster, top_n_by_score, uniform_per_cluster


def item(key, task_type, reply, user="question", subtype=""):
    return Item(
        key=key,
        task_type=task_type,
        subtype=subtype,
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": reply}],
    )


def test_use_counts_task_types_and_subtypes():
    view = use_view([item(1, "code", "x", subtype="python"), item(2, "code", "y"), item(3, "qa", "z")])
    assert view["task_types"] == [("code", 2), ("qa", 1)]
    assert view["subtypes"] == [("code / python", 1)]


def test_form_recognises_markdown_json_code_lists_and_chinese():
    items = [
        item(1, "qa", "# Title\n**bold**"),
        item(2, "qa", '{"a": 1}'),
        item(3, "code", "```py\nprint(1)\n```"),
        item(4, "qa", "- one\n- two"),
        item(5, "qa", "可以用标准库 csv 模块读取文件", user="怎么读取 CSV？"),
    ]
    view = form_view(items)
    assert {name: row["count"] for name, row in view["reply_formats"].items()} == {
        "markdown": 1,
        "json": 1,
        "code": 1,
        "lists": 1,
    }
    assert dict(view["languages"])["zh"] == 1
    assert view["turns"] == [(1, 5)]


def test_meaning_finds_the_clusters_of_separated_embeddings_and_flags_duplicates():
    rng = np.random.default_rng(0)
    hubs = np.eye(8)[:3]
    labels = np.repeat(np.arange(3), 10)
    vectors = hubs[labels] + 0.01 * rng.standard_normal((30, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [item(i, "qa", f"reply about topic{labels[i]} words") for i in range(30)]
    analysis = analyse(items, vectors, clusters=3)
    meaning = analysis["meaning"]
    assert sorted(cluster["size"] for cluster in meaning["clusters"]) == [10, 10, 10]
    assert len(meaning["map"]) == 30 and meaning["redundancy"] == 1.0
    assert all(len(cluster["representatives"]) == 3 for cluster in meaning["clusters"])


def test_top_terms_skip_stop_words():
    assert top_terms(["the python list and the python dict", "python"])[0] == "python"


def test_top_n_puts_missing_scores_last_never_as_zero():
    assert top_n_by_score(["a", "b", "c", "d"], [0.5, None, -1.0, 2.0], 3) == ["d", "a", "c"]


def test_uniform_per_cluster_takes_the_same_number_from_each_and_fills_from_the_big_ones():
    keys = list(range(30))
    labels = [0] * 20 + [1] * 8 + [2] * 2
    chosen = uniform_per_cluster(keys, labels, 12, seed=1)
    per = [sum(1 for k in chosen if labels[k] == c) for c in range(3)]
    assert len(chosen) == 12 and per[2] == 2 and abs(per[0] - per[1]) <= 1
    assert chosen == uniform_per_cluster(keys, labels, 12, seed=1)


def test_log_proportional_gives_big_clusters_more_but_less_than_their_share():
    keys = list(range(1010))
    labels = [0] * 1000 + [1] * 10
    chosen = log_proportional_per_cluster(keys, labels, 100, seed=0)
    small = sum(1 for k in chosen if labels[k] == 1)
    assert len(chosen) == 100 and 10 >= small > 1  # proportional would give 1


@pytest.mark.parametrize("strategy", [uniform_per_cluster, log_proportional_per_cluster])
def test_asking_for_more_than_there_is_gives_everything(strategy):
    assert sorted(strategy([1, 2, 3], [0, 0, 1], 10)) == [1, 2, 3]
