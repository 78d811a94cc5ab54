import numpy as np

from flywheel.continuity.data import exchanges, real_conversation, splice_insert, splice_switch
from flywheel.continuity.features import (
    FEATURE_NAMES,
    content_ngrams,
    conversation_features,
    longest_shared_span,
    names,
    normalise,
)
from tests.flywheel.continuity.conftest import conversation


def features_of(messages):
    vectors = np.eye(len(messages), 8, dtype=np.float32)
    return conversation_features(messages, vectors)


def value(row, name):
    return row[FEATURE_NAMES.index(name)]


def test_only_user_turns_after_the_first_get_features():
    positions, rows = features_of(conversation("a", "b", "c", "d", "e"))
    assert positions == [2, 4] and rows.shape == (2, len(FEATURE_NAMES))


def test_a_chinese_pronoun_follow_up_is_a_continuation_cue():
    _, rows = features_of(conversation("你知道周杰伦吗？", "知道，他是台湾歌手。", "他哪年出生的？"))
    assert value(rows[0], "has_anaphora") == 1 and value(rows[0], "cjk_share") == 1


def test_an_elliptic_english_follow_up_is_recognised():
    _, rows = features_of(conversation("Tell me about Paris.", "Paris is the capital of France.", "What about Lyon?"))
    assert value(rows[0], "elliptic_question") == 1 and value(rows[0], "starts_with_follow_up") == 1


def test_a_greeting_in_the_middle_of_a_session_is_an_opening_cue():
    _, rows = features_of(conversation("How do I boil an egg?", "Nine minutes.", "Hello! Can you recommend a film?"))
    assert value(rows[0], "greets") == 1


def test_a_caller_announcing_another_matter_opens_a_new_topic_rather_than_following_up():
    history = ("我想查一下话费", "您本月话费是86元。")
    for turn in (
        "还有一个问题，我家宽带老是断网",
        "嗯，另外我想问一下积分",
        "对了，寄快递到北京多少钱",
        "我再问一下别的",
    ):
        _, rows = features_of(conversation(*history, turn))
        assert value(rows[0], "opens_new_topic") == 1 and value(rows[0], "starts_with_follow_up") == 0, turn
    for turn in ("还有呢？", "对，就是它", "另外他还演过什么？", "还有其他套餐吗"):
        _, rows = features_of(conversation(*history, turn))
        assert value(rows[0], "opens_new_topic") == 0, turn
    _, rows = features_of(
        conversation("How do I reset my router?", "Hold the button.", "OK, one more question: my bill?")
    )
    assert value(rows[0], "opens_new_topic") == 1 and value(rows[0], "starts_with_follow_up") == 0


def test_a_shared_chinese_name_is_found_without_a_word_segmenter():
    assert longest_shared_span("你看过霸王别姬吗", "霸王别姬是陈凯歌导演的") >= 4


def test_traditional_chinese_overlaps_with_simplified():
    assert content_ngrams(normalise("這部電影")) & content_ngrams(normalise("这部电影很好看"))


def test_titles_in_brackets_are_names():
    assert "霸王别姬" in names("我最喜欢《霸王别姬》") and "inception" in names("Have you seen Inception lately?")


def test_the_answer_to_the_turn_is_used_when_the_log_has_it():
    _, with_reply = features_of(conversation("a", "b", "c", "d"))
    _, without = features_of(conversation("a", "b", "c"))
    assert value(with_reply[0], "has_reply") == 1 and value(without[0], "has_reply") == 0


def test_a_switch_splice_marks_its_first_spliced_turn_as_a_switch_and_the_rest_as_continuing():
    a = real_conversation(conversation("a1", "r", "a2", "r", "a3", "r"))
    b = real_conversation(conversation("b1", "r", "b2", "r", "b3", "r"))
    spliced = splice_switch(a, b, keep=2, start=0, take=2)
    assert [m["content"] for m in spliced.messages if m["role"] == "user"] == ["a1", "a2", "b1", "b2"]
    assert spliced.labels == [None, 1, 0, 1]


def test_an_inserted_turn_is_a_switch_and_the_return_is_left_unlabelled():
    a = real_conversation(conversation("a1", "r", "a2", "r", "a3", "r"))
    b = real_conversation(conversation("b1", "r"))
    spliced = splice_insert(a, b, at=1, donor=0)
    assert [m["content"] for m in spliced.messages if m["role"] == "user"] == ["a1", "b1", "a2", "a3"]
    assert spliced.labels == [None, 0, None, 1]


def test_a_leading_system_message_stays_with_the_first_exchange():
    messages = [{"role": "system", "content": "be nice"}] + conversation("q", "a", "q2", "a2")
    assert [len(e) for e in exchanges(messages)] == [3, 2]


def test_a_question_about_the_other_person_is_a_chit_chat_topic_cue():
    _, rows = features_of(conversation("i love cats", "i have two dogs", "cool . what is your favorite season ?"))
    _, plain = features_of(conversation("i love cats", "i have two dogs", "dogs are great too"))
    _, chinese = features_of(conversation("我喜欢猫", "我养了两只狗", "你平时喜欢做什么？"))
    assert value(rows[0], "asks_about_the_other") == 1 and value(plain[0], "asks_about_the_other") == 0
    assert value(chinese[0], "asks_about_the_other") == 1


def test_the_baseline_feature_is_the_char_bigram_overlap_with_the_last_exchange():
    _, rows = features_of(conversation("北京的故宫", "故宫很大", "故宫门票多少钱"))
    _, unrelated = features_of(conversation("北京的故宫", "故宫很大", "推荐一首歌"))
    assert value(rows[0], "bigram_recent") > 0 and value(unrelated[0], "bigram_recent") == 0
