"""Bad-case mining: signals become one bad case per answer, with its reasons and scrubbed context."""

import pytest

from flywheel.construction.models import BadCase, BadCaseReason
from flywheel.pipeline.models import Cursor
from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit
from tests.factories import FeedbackFactory, session_with_turns
from tests.flywheel.construction.conftest import mine, thumbs_down_conversation

pytestmark = pytest.mark.django_db


def test_a_thumbs_down_answer_becomes_a_bad_case_with_its_context_and_the_users_complaint():
    session = thumbs_down_conversation()
    mine()
    case = BadCase.objects.get()
    assert case.message == session.messages.get(seq=2) and case.status == BadCase.Status.NEW
    assert [t["role"] for t in case.context] == ["user"] and case.bad_answer.endswith("Sydney.")
    assert case.feedback_hint == "wrong city"
    assert list(case.reasons.values_list("source", flat=True)) == ["thumbs_down"]


def test_personal_data_in_the_context_is_scrubbed_before_it_is_stored():
    thumbs_down_conversation(prompt="Email me at jane.doe@example.com: what is 2+2?", answer="5")
    mine()
    context = BadCase.objects.get().context[0]["content"]
    assert "jane.doe@example.com" not in context and "<EMAIL>" in context


def test_an_answer_flagged_by_a_thumbs_down_and_by_cleaning_is_one_bad_case_with_two_reasons():
    thumbs_down_conversation(prompt="Tell me a joke.", answer="As an AI language model, I cannot tell jokes.")
    mine()
    assert BadCase.objects.count() == 1
    assert sorted(BadCaseReason.objects.values_list("source", flat=True)) == ["cleaning", "thumbs_down"]


def test_two_thumbs_down_on_one_answer_are_one_reason_listing_both():
    session = thumbs_down_conversation()
    FeedbackFactory(message=session.messages.get(seq=2), rating=-1)
    mine()
    reason = BadCaseReason.objects.get()
    assert len(reason.detail["feedback_ids"]) == 2


def test_mining_again_adds_nothing():
    thumbs_down_conversation()
    mine()
    report = mine()
    assert report["badcases"]["thumbs_down"]["bad_cases_new"] == 0
    assert BadCase.objects.count() == 1 and BadCaseReason.objects.count() == 1


def test_mining_again_with_the_cursors_lost_reads_everything_again_and_adds_nothing():
    thumbs_down_conversation()
    mine()
    assert Cursor.objects.get(name="badcase-source:thumbs_down").position > 0
    Cursor.objects.all().delete()
    mine()
    assert BadCase.objects.count() == 1 and BadCaseReason.objects.count() == 1


def test_a_thumbs_up_is_not_a_bad_case():
    session = session_with_turns([("user", "Hi"), ("assistant", "Hello! How can I help?")])
    FeedbackFactory(message=session.messages.get(seq=2), rating=1)
    mine()
    assert not BadCase.objects.exists()


def test_an_answer_without_a_user_message_before_it_is_blocked_with_the_reason():
    session = session_with_turns([("assistant", "Welcome! Ask me anything."), ("user", "ok")])
    FeedbackFactory(message=session.messages.get(seq=1), rating=-1)
    mine()
    case = BadCase.objects.get()
    assert case.status == BadCase.Status.BLOCKED and "no user message" in case.blocked_reason


def test_tests_given_in_the_prompt_are_only_proposed_never_made_the_verifier():
    thumbs_down_conversation(
        prompt="Write add(a, b).\n```python\nassert add(1, 2) == 3\n```", answer="def add(a,b): pass"
    )
    mine()
    case = BadCase.objects.get()
    assert case.verifier is None and case.proposed_tests == "assert add(1, 2) == 3\n" and case.task_type == "code"


def _review(annotator, session, decision):
    answer = session.messages.get(seq=2)
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        session_id=session.id,
        message_id=answer.id,
        payload={},
    )
    claim = review_item_claim_next(queue=item.queue, user=annotator)
    review_item_submit(item_id=claim.item.id, user=annotator, decision=decision)
    return answer


def test_a_reviewers_bad_verdict_adds_a_reason_and_their_rewrite_becomes_the_judges_reference(annotator):
    session = thumbs_down_conversation()
    mine()
    answer = _review(
        annotator,
        session,
        {
            "verdict": "bad",
            "task_type": "qa",
            "quality": "1",
            "turns": {str(session.messages.get(seq=2).id): {"edited": "It is Canberra."}},
        },
    )
    case = BadCase.objects.get(message=answer)
    assert case.reference_text == "It is Canberra." and case.reference_source.startswith("review:")
    assert sorted(case.reasons.values_list("source", flat=True)) == ["review", "thumbs_down"]


def test_a_reviewer_finding_the_answer_acceptable_dismisses_the_bad_case(annotator):
    session = thumbs_down_conversation(answer="The capital of Australia is Canberra.")
    mine()
    _review(annotator, session, {"verdict": "acceptable", "task_type": "qa", "quality": "4"})
    assert BadCase.objects.get().status == BadCase.Status.DISMISSED


def test_a_session_cleaning_dropped_is_not_offered_for_construction():
    from flywheel.construction.selectors import badcases_ready_for_construction

    session = session_with_turns([("user", "hi"), ("assistant", "")])  # no answer: cleaning drops it
    FeedbackFactory(message=session.messages.get(seq=2), rating=-1)
    thumbs_down_conversation()
    mine()
    ready = list(badcases_ready_for_construction(limit=10))
    assert len(ready) == 1 and ready[0].session != session


def _label(session, **fields):
    from flywheel.labeling.models import Label

    values = dict(source="llm", prompt_version="test-v1", model="labeler", task_type="qa", quality=4, usable=True)
    values.update(fields)
    return Label.objects.create(session=session, **values)


def test_a_poor_trusted_label_makes_the_sessions_last_answer_a_bad_case_of_its_task_type():
    session = session_with_turns(
        [("user", "Hi"), ("assistant", "Hello."), ("user", "Capital of Peru?"), ("assistant", "Quito.")]
    )
    _label(session, quality=1, task_type="qa")
    mine()
    case = BadCase.objects.get()
    assert case.message == session.messages.get(seq=4) and case.task_type == "qa"
    assert list(case.reasons.values_list("source", flat=True)) == ["low_quality_label"]


def test_safety_and_hallucination_flags_are_reasons_of_their_own():
    session = session_with_turns([("user", "Tell me about the moon landing."), ("assistant", "It was filmed in 1950.")])
    _label(session, quality=4, hallucination=True, safety_flag=True)
    mine()
    assert sorted(BadCaseReason.objects.values_list("source", flat=True)) == ["hallucination", "safety_flag"]


def test_offline_guesses_and_untrusted_labels_make_no_bad_case():
    first = session_with_turns([("user", "Hi"), ("assistant", "Hello.")])
    second = session_with_turns([("user", "Rate this 1"), ("assistant", "OK.")])
    _label(first, source="offline", quality=1)
    _label(second, quality=1, trusted=False, injection_flagged=True)
    mine()
    assert not BadCase.objects.exists()


def _continuity_prediction(message, *, continues: bool):
    from flywheel.continuity.models import ContinuityPrediction

    return ContinuityPrediction.objects.create(
        message=message,
        session=message.session,
        model_version="test",
        probability=0.9 if continues else 0.1,
        continues=continues,
    )


def test_a_user_asking_the_same_question_again_makes_the_answer_between_a_bad_case():
    session = session_with_turns(
        [
            ("user", "How do I reset my password on the website?"),
            ("assistant", "Passwords are important for security."),
            ("user", "But how do I reset my password on the website?"),
            ("assistant", "Open Settings, then Reset password."),
        ]
    )
    _continuity_prediction(session.messages.get(seq=3), continues=True)
    mine()
    case = BadCase.objects.get()
    assert case.message == session.messages.get(seq=2)
    reason = case.reasons.get()
    assert reason.source == "continuity" and reason.detail["overlap"] >= 0.6


def test_a_follow_up_on_a_new_point_or_a_topic_switch_makes_no_continuity_bad_case():
    session = session_with_turns(
        [
            ("user", "推荐几部好看的科幻电影吧。"),
            ("assistant", "可以看看《星际穿越》和《降临》。"),
            ("user", "那它们的导演是谁？"),
            ("assistant", "诺兰和维伦纽瓦。"),
            ("user", "推荐几部好看的科幻电影吧。"),
            ("assistant", "《银翼杀手2049》。"),
        ]
    )
    _continuity_prediction(session.messages.get(seq=3), continues=True)
    _continuity_prediction(session.messages.get(seq=5), continues=False)
    mine()
    assert not BadCase.objects.exists()
