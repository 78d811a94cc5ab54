"""Each rule on Chinese and English turns, with the edge cases chat logs are full of."""

from __future__ import annotations

import pytest

from flywheel.cleaning.rules import RULES, MessageView
from flywheel.cleaning.ruleset import MessageInput, RuleConfigError, evaluate_session, ruleset_from_overrides


def run(rule: str, text: str, role: str = "user", **params):
    configured = RULES[rule]
    view = MessageView(role=role, text=text)
    return configured.func(view, {**configured.params, **params})


# --- empty -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u200b\u200b", "\u3000\u3000"])
def test_empty_rule_catches_turns_with_nothing_visible(text):
    assert run("empty", text) is not None


@pytest.mark.parametrize("text", ["好", "ok", "?", "👍"])
def test_empty_rule_keeps_one_visible_character(text):
    assert run("empty", text) is None


# --- length ------------------------------------------------------------------------------------


def test_length_counts_chinese_in_characters():
    assert run("length", "今天天气怎么样", max_units=6).reason.startswith("too long: 7 units")


def test_length_counts_english_in_words():
    assert run("length", "How is the weather today in Beijing", max_units=6).reason.startswith("too long: 7 units")


def test_length_counts_mixed_text_as_characters_plus_words():
    assert run("length", "用Python读取CSV文件", max_units=7) is None
    assert run("length", "用Python读取CSV文件", max_units=5).detail == {"units": 7}


def test_length_keeps_a_short_chinese_turn_that_a_word_count_would_drop():
    assert run("length", "好的谢谢", min_units=2) is None


def test_length_flags_a_turn_below_the_minimum():
    assert run("length", "ok", min_units=2).reason.startswith("too short")


# --- repetition ---------------------------------------------------------------------------------


def test_repetition_catches_repeated_chinese_characters():
    assert run("repetition", "哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈") is not None


def test_repetition_catches_an_english_loop():
    assert run("repetition", "I'm sorry. " * 8) is not None


def test_repetition_catches_repeated_lines():
    assert run("repetition", "\n".join(["buy now", "buy now", "buy now", "click", "buy now"])) is not None


def test_repetition_leaves_a_short_laugh_alone():
    assert run("repetition", "哈哈哈哈") is None


@pytest.mark.parametrize(
    "text",
    [
        "周杰伦最好听的歌是哪首？很多人喜欢《晴天》《七里香》和《稻香》，旋律和歌词都很有代表性。",
        "Whisk the eggs with a pinch of salt until they are frothy, then cook them over medium-low heat in butter.",
    ],
)
def test_repetition_leaves_ordinary_prose_alone(text):
    assert run("repetition", text) is None


# --- special characters and garbled text -----------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["????????????!!!!!!!!", "asdfghjkl;;;;;;;;;;", "$$$ 免费领取 $$$ 加微信 $$$ 免费领取 $$$ 加微信 $$$"]
)
def test_special_characters_catches_symbol_noise(text):
    assert run("special_characters", text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "《黑洞》、《寻枪》、《可可西里》、《南京！南京！》、《王的盛宴》……",  # CJK punctuation is ordinary
        "Use the csv module:\n```python\nwith open('d.csv') as f: rows = [r for r in csv.reader(f)]\n```",  # code is exempt
        "哈哈😂😂😂😂😂😂好开心",  # emoji are ordinary chat
        "By the product rule: 3x^2·sin(x) + x^3·cos(x).",
    ],
)
def test_special_characters_leaves_punctuated_chat_alone(text):
    assert run("special_characters", text) is None


def test_garbled_catches_replacement_characters():
    assert run("garbled", "我的订单\ufffd\ufffd\ufffd怎么还没到") is not None


def test_garbled_catches_mojibake_that_cannot_be_repaired():
    assert run("garbled", "æ€Žä¹ˆé‡ç½®å¯†ç ï¼Ÿ") is not None


@pytest.mark.parametrize("text", ["怎么重置密码？", "Café crème, s'il vous plaît.", "Привет, как дела?"])
def test_garbled_leaves_clean_non_ascii_text_alone(text):
    assert run("garbled", text) is None


# --- fixes ------------------------------------------------------------------------------------------


def test_mojibake_repairs_utf8_read_as_latin1():
    original = "怎么重置密码？"
    hit = run("mojibake", original.encode("utf-8").decode("latin-1"))
    assert hit.text == original


def test_mojibake_repairs_english_accents():
    assert run("mojibake", "cafÃ© crÃ¨me").text == "café crème"


def test_mojibake_leaves_fullwidth_chinese_punctuation_and_quotes_alone():
    assert run("mojibake", "你好，“世界”！ＡＢＣ") is None


def test_traditional_to_simplified_converts_when_enabled():
    assert run("traditional_to_simplified", "請問這部電影的導演是誰？").text == "请问这部电影的导演是谁？"


def test_traditional_to_simplified_is_off_by_default():
    assert ruleset_from_overrides({}).get("traditional_to_simplified") is None


# --- language ---------------------------------------------------------------------------------------


def test_language_recognises_chinese_by_script_even_when_short():
    view = MessageView(role="user", text="好的谢谢")
    assert RULES["language"].func(view, RULES["language"].params) is None
    assert view.language == "zh"


def test_language_flags_a_language_the_product_does_not_serve():
    hit = run("language", "Bonjour, je voudrais réserver une table pour deux personnes ce soir, s'il vous plaît.")
    assert hit.detail["language"] == "fr"


def test_language_flags_japanese_by_its_kana():
    assert run("language", "この映画の監督は誰ですか？").detail["language"] == "ja"


@pytest.mark.parametrize("text", ["Bernie Sanders sucks.", "Danke", "ok cool", "What is Hustler magzine?"])
def test_language_does_not_trust_short_or_unsure_turns(text):
    view = MessageView(role="user", text=text)
    assert RULES["language"].func(view, RULES["language"].params) is None
    assert view.language in ("und", "en")


def test_language_accepts_english():
    view = MessageView(role="user", text="Can you give me a simple recipe for banana bread, please?")
    assert RULES["language"].func(view, RULES["language"].params) is None
    assert view.language == "en"


# --- boilerplate --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "As an AI language model, I cannot provide personal opinions on that topic.",
        "I’m sorry, but I can’t help with that.",
        "作为一个AI语言模型，我无法回答这个问题。",
        "抱歉，作为人工智能助手，我没有个人观点。",
        "抱歉，我无法提供这方面的信息。",
    ],
)
def test_boilerplate_catches_disclaimers_and_refusals(text):
    assert run("boilerplate", text, role="assistant") is not None


@pytest.mark.parametrize(
    "text",
    [
        "Sure! Whisk the eggs and cook them gently.",
        "AI models such as GPT are trained on text; I can explain how.",
        "可以用 pandas 读取 Excel 文件。",
    ],
)
def test_boilerplate_leaves_ordinary_answers_alone(text):
    assert run("boilerplate", text, role="assistant") is None


def test_boilerplate_looks_only_at_assistant_turns():
    outcome = evaluate_session(
        [
            MessageInput(1, "user", "As an AI language model, what do you think?"),
            MessageInput(2, "assistant", "I think it is a fine question."),
        ],
        ruleset_from_overrides({}),
    )
    assert not [r for r in outcome.results if r.rule == "boilerplate"]


def test_boilerplate_uses_configured_patterns():
    assert (
        run("boilerplate", "Great question! Here it is.", role="assistant", extra_patterns=["^great question"])
        is not None
    )


# --- truncated -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "To do that you first need to open the settings and then go to the",
        "这个要看情况，如果你的网络比较慢的话，",
        "Here is the code:\n```python\nimport csv\nwith open('a.csv') as f:",
        "Here are the three steps you should follow:",
        "首先打开设置。然后点击账户，再选择重置密码",
    ],
)
def test_truncated_catches_answers_cut_off_mid_sentence(text):
    assert run("truncated", text, role="assistant") is not None


@pytest.mark.parametrize(
    "text",
    [
        "Sure",
        "15% of 240 is 0.15 × 240 = 36.",
        "嗯，有103分钟，看完后确实出了一身冷汗呢",  # chat Chinese often ends on a particle, no "。"
        "可以试试久石让的钢琴曲、班得瑞的专辑",  # one sentence without closing punctuation
        "Steps:\n- open settings\n- click reset",
        "Use the csv module:\n```python\nimport csv\n```",
    ],
)
def test_truncated_leaves_complete_answers_alone(text):
    assert run("truncated", text, role="assistant") is None


# --- markup -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '<div class="msg"><p>&nbsp;</p><br/><span>hello</span></div>',
        "<script>alert('xss')</script> why doesn't my page work?",
        "[url=http://spam.example]点这里[/url]",
    ],
)
def test_markup_catches_html_and_bbcode_residue(text):
    assert run("markup", text) is not None


@pytest.mark.parametrize("text", ["Use `<div>` for blocks.", "if a < b and b > c: pass", "R&D costs rose 5%"])
def test_markup_leaves_code_and_comparisons_alone(text):
    assert run("markup", text) is None


# --- sensitive words -----------------------------------------------------------------------------------------


def test_sensitive_words_match_case_insensitively_in_chinese_and_english():
    assert run("sensitive_words", "加我微信领取优惠", words=["加我微信"]).detail["word"] == "加我微信"
    assert run("sensitive_words", "Buy CHEAP pills", words=["cheap pills"]) is not None


def test_sensitive_words_do_nothing_without_a_list():
    assert run("sensitive_words", "anything at all") is None


# --- sessions ------------------------------------------------------------------------------------------------


def test_a_session_without_an_answer_is_dropped():
    outcome = evaluate_session([MessageInput(1, "user", "在吗？")], ruleset_from_overrides({}))
    assert outcome.status == "dropped"
    assert outcome.reasons == ["no_assistant_answer: no assistant answer in the session"]


def test_a_session_with_only_an_empty_answer_is_dropped():
    outcome = evaluate_session(
        [MessageInput(1, "user", "hi"), MessageInput(2, "assistant", "  ")], ruleset_from_overrides({})
    )
    assert {r.rule for r in outcome.results} >= {"empty", "no_assistant_answer"}


def test_later_rules_see_the_repaired_text():
    broken = "怎么重置密码？".encode().decode("latin-1")
    outcome = evaluate_session(
        [MessageInput(1, "user", broken), MessageInput(2, "assistant", "点击“忘记密码”即可。")],
        ruleset_from_overrides({}),
    )
    assert outcome.messages[0].text == "怎么重置密码？"
    assert outcome.status == "kept"
    assert [r.rule for r in outcome.results] == ["mojibake"]


def test_an_alternative_answer_does_not_change_the_session_verdict():
    outcome = evaluate_session(
        [
            MessageInput(1, "user", "hi"),
            MessageInput(2, "assistant", "Hello! How can I help?"),
            MessageInput(3, "assistant", "", alternative=True),
        ],
        ruleset_from_overrides({}),
    )
    assert outcome.status == "kept"


# --- configuration ---------------------------------------------------------------------------------------------


def test_a_disabled_rule_does_not_run():
    ruleset = ruleset_from_overrides({"rules": {"empty": {"enabled": False}}})
    outcome = evaluate_session([MessageInput(1, "user", " "), MessageInput(2, "assistant", "Hello there.")], ruleset)
    assert "empty" not in {r.rule for r in outcome.results}


def test_a_changed_action_changes_the_verdict():
    ruleset = ruleset_from_overrides({"rules": {"no_assistant_answer": {"action": "flag"}}})
    assert evaluate_session([MessageInput(1, "user", "hi")], ruleset).status == "flagged"


def test_changed_parameters_change_the_config_hash_but_not_the_version():
    default = ruleset_from_overrides({}).get("length")
    changed = ruleset_from_overrides({"rules": {"length": {"params": {"max_units": 10}}}}).get("length")
    assert default.rule.version == changed.rule.version
    assert default.config_hash != changed.config_hash


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"rules": {"nope": {}}}, "unknown rule 'nope'"),
        ({"rules": {"length": {"params": {"max_units": "many"}}}}, "length.max_units must be a whole number"),
        ({"rules": {"repetition": {"params": {"max_ratio": 3}}}}, "repetition.max_ratio must be between 0 and 1"),
        ({"rules": {"mojibake": {"action": "drop"}}}, "action must be one of fix"),
        (
            {"rules": {"boilerplate": {"params": {"extra_patterns": ["(unclosed"]}}}},
            "is not a valid regular expression",
        ),
        ({"rules": {"length": {"params": {"nope": 1}}}}, "unknown parameters nope"),
    ],
)
def test_an_unusable_configuration_is_refused_with_a_clear_message(overrides, message):
    with pytest.raises(RuleConfigError, match=message.replace("(", r"\(")):
        ruleset_from_overrides(overrides)
