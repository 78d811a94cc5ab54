"""The cleaning stage on stored sessions: verdicts stored once per rule version, re-runs that
add nothing, incremental deduplication, re-cleaning grown sessions, and what later stages see."""

from __future__ import annotations

import pytest

from flywheel.cleaning.models import (
    DedupBand,
    DedupEntry,
    MessageCleaning,
    MessageScrub,
    RuleResult,
    SessionCleaning,
)
from flywheel.cleaning.rules import RULES
from flywheel.cleaning.selectors import sessions_ready_for_labeling
from flywheel.cleaning.services import cleaning_rerun, message_texts_for_llm, ruleset_config_save
from flywheel.ingest.models import Message
from flywheel.pipeline.registry import STAGES
from tests.factories import MessageFactory, session_with_turns

pytestmark = pytest.mark.django_db

GOOD = [("user", "How do I make a fluffy omelette?"), ("assistant", "Whisk the eggs and cook them gently.")]


def row_counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (RuleResult, SessionCleaning, MessageCleaning, MessageScrub, DedupEntry, DedupBand)
    }


def test_the_cleaning_stage_runs_first_in_the_pipeline():
    assert STAGES["cleaning"].order == 10


def test_every_session_gets_one_verdict(clean):
    kept = session_with_turns(GOOD)
    flagged = session_with_turns([("user", "hi"), ("assistant", "As an AI language model, I have no opinions.")])
    dropped = session_with_turns([("user", "在吗？")])
    report = clean()
    assert report["sessions"] == 3
    assert {s.session_id: s.status for s in SessionCleaning.objects.all()} == {
        kept.id: "kept",
        flagged.id: "flagged",
        dropped.id: "dropped",
    }


def test_the_verdict_says_why(clean):
    session = session_with_turns([("user", "在吗？")])
    clean()
    assert SessionCleaning.objects.get(session=session).reasons == [
        "no_assistant_answer: no assistant answer in the session"
    ]


def test_a_second_run_adds_nothing(clean):
    session_with_turns(GOOD)
    session_with_turns([("user", "邮箱 bob@example.com"), ("assistant", "作为一个AI语言模型，我无法回答")])
    clean()
    before = row_counts()
    assert clean().get("sessions", 0) == 0
    assert row_counts() == before


def test_reprocessing_a_batch_under_the_same_rules_adds_no_results(clean):
    from flywheel.cleaning.services import cleaning_batch_process

    session = session_with_turns([("user", "hi"), ("assistant", "As an AI language model, I cannot.")])
    clean()
    before = row_counts()
    cleaning_batch_process(session_ids=[session.id])
    assert row_counts() == before


def test_a_new_rule_version_adds_results_beside_the_old_ones(clean, monkeypatch):
    session = session_with_turns([("user", "hi"), ("assistant", "As an AI language model, I cannot.")])
    clean()
    monkeypatch.setitem(
        RULES, "boilerplate", RULES["boilerplate"].__class__(**{**RULES["boilerplate"].__dict__, "version": 2})
    )
    report = cleaning_rerun(app=None)
    assert report["sessions"] == 1
    versions = sorted(
        RuleResult.objects.filter(session=session, rule="boilerplate").values_list("rule_version", flat=True)
    )
    assert versions == [1, 2]


def test_changed_parameters_add_results_and_change_the_verdict(clean, engineer):
    session = session_with_turns(
        [("user", "Tell me about omelettes, in detail please"), ("assistant", "Sure thing.")], app="shop"
    )
    clean()
    assert SessionCleaning.objects.get(session=session).status == "kept"
    ruleset_config_save(app="shop", overrides={"rules": {"length": {"params": {"max_units": 5}}}}, user=engineer)
    cleaning_rerun(app="shop")
    assert SessionCleaning.objects.get(session=session).status == "flagged"
    assert RuleResult.objects.filter(session=session, rule="length").count() == 1


def test_rules_of_one_app_do_not_touch_another(clean, engineer):
    other = session_with_turns(
        [("user", "Tell me about omelettes, in detail please"), ("assistant", "Sure thing.")], app="other"
    )
    clean()
    ruleset_config_save(app="shop", overrides={"rules": {"length": {"params": {"max_units": 5}}}}, user=engineer)
    assert cleaning_rerun(app=None).get("sessions", 0) == 0
    assert SessionCleaning.objects.get(session=other).status == "kept"


def test_a_rerun_after_a_config_change_skips_sessions_already_recleaned(clean, engineer):
    session_with_turns(GOOD, app="shop")
    clean()
    ruleset_config_save(app="shop", overrides={"rules": {"truncated": {"enabled": False}}}, user=engineer)
    assert cleaning_rerun(app="shop")["sessions"] == 1
    assert cleaning_rerun(app="shop").get("sessions", 0) == 0


def test_a_session_that_received_new_messages_is_cleaned_again(clean):
    session = session_with_turns([("user", "在吗？")])
    clean()
    assert SessionCleaning.objects.get(session=session).status == "dropped"
    MessageFactory(
        session=session, seq=2, role="assistant", content="在的，有什么可以帮你？", external_id="late-answer"
    )
    clean()
    cleaning = SessionCleaning.objects.get(session=session)
    assert cleaning.status == "kept"
    assert not RuleResult.objects.filter(session=session, rule="no_assistant_answer").exists()


def test_later_stages_see_only_kept_or_flagged_sessions_that_are_not_duplicates(clean):
    kept = session_with_turns(GOOD)
    flagged = session_with_turns([("user", "hi"), ("assistant", "As an AI language model, I have no opinions.")])
    session_with_turns([("user", "在吗？")])
    session_with_turns(GOOD)  # an exact copy of the first
    session_with_turns([("user", "not cleaned yet")])
    clean()
    session_with_turns([("user", "arrived after the run"), ("assistant", "Fine.")])
    assert list(sessions_ready_for_labeling(limit=None)) == [kept, flagged]


def test_sessions_ready_for_labeling_pages_by_key(clean):
    sessions = [
        session_with_turns([("user", f"question number {i} about cooking"), ("assistant", f"answer {i}.")])
        for i in range(5)
    ]
    clean()
    first = list(sessions_ready_for_labeling(limit=2))
    second = list(sessions_ready_for_labeling(after_id=first[-1].id, limit=2))
    assert first + second == sessions[:4]


# --- duplicates -------------------------------------------------------------------------------------------


def test_an_exact_copy_of_a_session_links_to_the_first(clean):
    first = session_with_turns(GOOD)
    copy = session_with_turns([(role, text.upper()) for role, text in GOOD])
    clean()
    cleaning = SessionCleaning.objects.get(session=copy)
    assert cleaning.duplicate_of == first and cleaning.similarity == 1.0
    assert SessionCleaning.objects.get(session=first).duplicate_of is None


def test_a_near_duplicate_session_links_to_the_first(clean):
    first = session_with_turns(
        [
            ("user", "What should I see in Kyoto in two days? I like temples and gardens."),
            (
                "assistant",
                "Day one: Fushimi Inari early, then Kiyomizu-dera and the Higashiyama lanes. "
                "Day two: Arashiyama bamboo grove, Tenryu-ji, and an evening walk in Gion.",
            ),
        ]
    )
    near = session_with_turns(
        [
            ("user", "What should I see in Kyoto in two days? I like temples and gardens!!"),
            (
                "assistant",
                "Day one: Fushimi Inari early, then Kiyomizu-dera and the Higashiyama lanes. "
                "Day two: Arashiyama bamboo grove, Tenryu-ji, and an evening stroll in Gion.",
            ),
        ]
    )
    clean()
    cleaning = SessionCleaning.objects.get(session=near)
    assert cleaning.duplicate_of == first and 0.7 <= cleaning.similarity < 1.0
    assert RuleResult.objects.get(session=near, rule="duplicate").action == "drop"


def test_new_data_is_compared_with_what_is_already_stored(clean):
    first = session_with_turns(GOOD)
    clean()
    later = session_with_turns(GOOD)
    clean()
    assert SessionCleaning.objects.get(session=later).duplicate_of == first


def test_only_representatives_carry_lsh_bands(clean):
    long_turns = [
        ("user", "Can you give me a simple recipe for banana bread with walnuts and honey?"),
        ("assistant", "Mash three ripe bananas, mix in melted butter, sugar, one egg and vanilla."),
    ]
    session_with_turns(long_turns)
    session_with_turns(long_turns)
    clean()
    representatives = DedupEntry.objects.filter(representative__isnull=True)
    assert set(DedupBand.objects.values_list("entry_id", flat=True)) <= set(
        representatives.values_list("id", flat=True)
    )


def test_a_dropped_session_is_never_a_representative(clean):
    session_with_turns(
        [
            ("user", "哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈"),
            ("assistant", "哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈"),
        ]
    )
    clean()
    assert not DedupEntry.objects.filter(scope="session").exists()


def test_repeated_prompts_link_to_the_first_and_short_chinese_prompts_stay_apart(clean):
    first = session_with_turns([("user", "How do I reset my password?"), ("assistant", "Go to Settings.")])
    again = session_with_turns(
        [("user", "Please, how do I reset my password?"), ("assistant", "Open Settings, then Account.")]
    )
    shorts = [
        session_with_turns([("user", text), ("assistant", "好的。")])
        for text in ("好的", "谢谢", "你好吗", "你好啊", "在吗")
    ]
    clean()
    first_prompt = Message.objects.get(session=first, seq=1)
    assert MessageCleaning.objects.get(message__session=again, message__seq=1).duplicate_of == first_prompt
    assert not MessageCleaning.objects.filter(
        message__session__in=shorts, message__seq=1, duplicate_of__isnull=False
    ).exists()


def test_deduplication_can_be_turned_off_per_app(clean, engineer):
    ruleset_config_save(app="solo", overrides={"dedup_sessions": False, "dedup_prompts": False}, user=engineer)
    session_with_turns(GOOD, app="solo")
    session_with_turns(GOOD, app="solo")
    clean()
    assert not SessionCleaning.objects.filter(duplicate_of__isnull=False).exists()
    assert not DedupEntry.objects.exists()


# --- scrubbed text for LLMs ------------------------------------------------------------------------------------


def test_message_texts_for_llm_returns_scrubbed_text(clean):
    session = session_with_turns([("user", "我的手机号是13812345678，邮箱 bob@example.com"), ("assistant", "收到。")])
    clean()
    ids = list(session.messages.order_by("seq").values_list("id", flat=True))
    assert message_texts_for_llm(message_ids=ids) == {ids[0]: "我的手机号是<PHONE>，邮箱 <EMAIL>", ids[1]: "收到。"}


def test_message_texts_for_llm_scrubs_and_stores_messages_never_cleaned():
    session = session_with_turns([("user", "card 4111 1111 1111 1111 please")])
    message_id = session.messages.get().id
    assert message_texts_for_llm(message_ids=[message_id]) == {message_id: "card <BANK_CARD> please"}
    assert MessageScrub.objects.get(message_id=message_id).findings[0]["type"] == "bank_card"


def test_message_texts_for_llm_leaves_out_a_message_whose_scrubbing_failed(settings):
    session = session_with_turns([("user", "short"), ("assistant", "x" * 5000)])
    settings.FLYWHEEL_PII_MAX_CHARS = 1000
    ids = list(session.messages.order_by("seq").values_list("id", flat=True))
    assert message_texts_for_llm(message_ids=ids) == {ids[0]: "short"}
    assert MessageScrub.objects.get(message_id=ids[1]).ok is False


def test_a_session_whose_scrubbing_failed_is_dropped(clean, settings):
    settings.FLYWHEEL_PII_MAX_CHARS = 1000
    session = session_with_turns([("user", " ".join(f"word{i}" for i in range(300))), ("assistant", "Fine.")])
    clean()
    cleaning = SessionCleaning.objects.get(session=session)
    assert cleaning.status == "dropped"
    assert cleaning.reasons == ["pii: text of 2289 characters is over the scrubbing limit of 1000"]


def test_message_texts_for_llm_uses_the_repaired_text(clean):
    broken = "怎么重置密码？".encode().decode("latin-1")
    session = session_with_turns([("user", broken), ("assistant", "点击“忘记密码”。")])
    clean()
    message_id = session.messages.get(seq=1).id
    assert message_texts_for_llm(message_ids=[message_id]) == {message_id: "怎么重置密码？"}


def test_the_rerun_command_recleans_in_the_foreground(clean, engineer, capsys):
    from django.core.management import call_command

    session = session_with_turns(GOOD, app="shop")
    clean()
    ruleset_config_save(app="shop", overrides={"rules": {"length": {"params": {"max_units": 3}}}}, user=engineer)
    call_command("rerun_cleaning", app="shop")
    assert '"sessions": 1' in capsys.readouterr().out
    assert SessionCleaning.objects.get(session=session).status == "flagged"
