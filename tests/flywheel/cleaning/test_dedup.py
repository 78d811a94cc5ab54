"""Near-duplicate detection on its own: Chinese character and English word shingles, short
texts kept, exact matches after normalisation, stable fingerprints."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from flywheel.cleaning.dedup import (
    NearDuplicateIndex,
    estimated_jaccard,
    fingerprints,
    prepare_session,
    prepare_text,
)


def run_index(texts: list[str], threshold: float = 0.7) -> list:
    index = NearDuplicateIndex(threshold)
    prints = fingerprints([prepare_text(t) for t in texts], scope="prompt")
    return [index.match_or_add(i, fp) for i, fp in enumerate(prints)]


def test_an_english_prompt_with_an_added_word_is_a_near_duplicate():
    matches = run_index(["How do I make a fluffy omelette?", "Please, how do I make a fluffy omelette?"])
    assert matches[1] is not None and matches[1].representative == 0 and not matches[1].exact


def test_a_chinese_prompt_with_an_added_greeting_is_a_near_duplicate():
    matches = run_index(["《流浪地球》是谁导演的？", "请问《流浪地球》是谁导演的？"])
    assert matches[1] is not None and matches[1].representative == 0


def test_punctuation_case_and_width_do_not_make_texts_different():
    matches = run_index(["你好吗", "你好吗？？", "Hello World!", "hello   world", "ＡＢＣ１２３", "abc123"])
    assert [m is not None and m.exact for m in matches] == [False, True, False, True, False, True]


def test_short_chinese_messages_that_differ_are_all_kept():
    texts = ["好的", "谢谢", "你好吗", "你好啊", "在吗", "是的", "不是", "好", "嗯嗯", "可以"]
    assert all(match is None for match in run_index(texts))


def test_a_short_text_is_matched_exactly_rather_than_dropped():
    prepared = prepare_text("好的")
    assert fingerprints([prepared], scope="prompt")[0].signature is None  # too short for shingles
    assert run_index(["好的", "好的！"])[1].exact


def test_different_questions_sharing_a_template_are_not_duplicates():
    matches = run_index(
        ["What is 15% of 240?", "What is 20% of 240?", "周杰伦最好听的歌是哪首？", "林俊杰最好听的歌是哪首？"]
    )
    assert all(match is None for match in matches)


def test_a_text_of_only_emoji_is_still_compared_exactly():
    assert run_index(["😂😂", "😂😂"])[1].exact


def test_an_empty_text_is_not_compared():
    assert prepare_text("   ") is None


def test_estimated_similarity_tracks_true_jaccard():
    base = [f"word{i}" for i in range(60)]
    other = base[:45] + [f"other{i}" for i in range(15)]
    a, b = fingerprints([prepare_text(" ".join(base)), prepare_text(" ".join(other))], scope="prompt")
    true = len(set(zip(base, base[1:])) & set(zip(other, other[1:]))) / len(
        set(zip(base, base[1:])) | set(zip(other, other[1:]))
    )
    assert abs(estimated_jaccard(a.signature, b.signature) - true) < 0.1


def test_sessions_differing_only_in_roles_are_different():
    one = prepare_session([("user", "hello there friend"), ("assistant", "hi, how can I help")])
    two = prepare_session([("assistant", "hello there friend"), ("user", "hi, how can I help")])
    a, b = fingerprints([one, two], scope="session")
    assert a.content_hash != b.content_hash


def test_fingerprints_are_the_same_in_another_process():
    """Signatures and bands are stored: a worker process must compute identical ones."""
    text = "请问《流浪地球》是谁导演的？ How do I make a fluffy omelette?"
    here = fingerprints([prepare_text(text)], scope="prompt")[0]
    code = (
        "import json; from flywheel.cleaning.dedup import fingerprints, prepare_text; "
        f"f = fingerprints([prepare_text({text!r})], scope='prompt')[0]; "
        "print(json.dumps([f.content_hash, f.signature.tolist(), list(f.bands)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        cwd=str(__import__("pathlib").Path(__file__).parents[3]),
    )
    content_hash, signature, bands = json.loads(out.stdout)
    assert content_hash == here.content_hash
    assert np.array_equal(np.array(signature, dtype=np.uint32), here.signature)
    assert tuple(bands) == here.bands


@pytest.mark.parametrize("n_texts", [1, 37, 600])
def test_batch_signatures_equal_one_at_a_time_signatures(n_texts):
    texts = [f"message number {i} about topic {i % 7} and more words here" for i in range(n_texts)]
    batch = fingerprints([prepare_text(t) for t in texts], scope="prompt")
    single = [fingerprints([prepare_text(t)], scope="prompt")[0] for t in texts]
    assert all(np.array_equal(a.signature, b.signature) and a.bands == b.bands for a, b in zip(batch, single))
