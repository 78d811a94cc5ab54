"""A check on real Chinese text nobody wrote for the classifier: the first user turns of the public
KdConv and CrossWOZ samples are almost all questions (about films, music and places; requests to
find a restaurant or hotel). The previous labeler took 78% of CrossWOZ's for something else
(mostly maths: "评分4.5分以上"). Floors sit below the figures in docs/engineers.md."""

import gzip
import json
from collections import Counter

import pytest

from flywheel.labeling.classifier import task_type_model
from flywheel.labeling.taxonomy import taxonomy
from flywheel.llm.embeddings import embed_texts
from tests.support.datasets import SHARED_DATASETS


def kdconv_openings(domain: str) -> list[str]:
    with gzip.open(SHARED_DATASETS / f"kdconv-{domain}-dev.json.gz", "rt", encoding="utf-8") as handle:
        return [conversation["messages"][0]["message"] for conversation in json.load(handle)]


def crosswoz_openings() -> list[str]:
    with gzip.open(SHARED_DATASETS / "crosswoz-val.json.gz", "rt", encoding="utf-8") as handle:
        dialogues = json.load(handle)
    return [next(m["content"] for m in d["messages"] if m["role"] == "usr") for d in dialogues.values()]


@pytest.mark.parametrize(
    ("name", "openings", "floor"),
    [
        ("kdconv-film", lambda: kdconv_openings("film"), 0.85),
        ("kdconv-travel", lambda: kdconv_openings("travel"), 0.85),
        ("kdconv-music", lambda: kdconv_openings("music"), 0.7),
        ("crosswoz", crosswoz_openings, 0.85),
    ],
)
def test_real_chinese_questions_are_labelled_questions(name, openings, floor):
    texts = openings()
    predictions = task_type_model(taxonomy()).predict(texts, embed_texts)
    counts = Counter(p.task_type for p in predictions)
    assert counts["qa"] / len(texts) >= floor, (name, counts.most_common())
    # What is not a question is chit-chat or left uncertain for a reviewer, rarely a wrong sure guess.
    wrong_and_sure = [p for p in predictions if p.task_type not in ("qa", "chitchat") and p.confidence >= 0.5]
    assert len(wrong_and_sure) / len(texts) < 0.1, name
