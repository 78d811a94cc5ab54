import pytest

from flywheel.accounts.models import AuditEvent
from flywheel.review.models import ReviewItem
from flywheel.review.services import (
    ReviewError,
    review_item_claim_next,
    review_item_enqueue,
    review_item_submit,
    review_queue_save,
)
from tests.flywheel.review.conftest import APPLIED, good_decision

pytestmark = pytest.mark.usefixtures("recording_kind")


def submit(item, user, decision):
    claim = review_item_claim_next(queue=item.queue, user=user)
    assert claim.item.id == item.id
    return review_item_submit(item_id=item.id, user=user, decision=decision)


def test_a_single_reviewers_decision_is_final(badcase_item, annotator, conversation):
    submit(badcase_item, annotator, good_decision(conversation))
    badcase_item.refresh_from_db()
    assert badcase_item.status == ReviewItem.Status.DONE
    assert badcase_item.final_decision["verdict"] == "bad"
    badcase_item.queue.refresh_from_db()
    assert badcase_item.queue.items_finished == 1


def test_an_invalid_choice_is_refused_with_a_clear_message_and_nothing_changes(badcase_item, annotator, conversation):
    review_item_claim_next(queue=badcase_item.queue, user=annotator)
    with pytest.raises(ValueError, match="not a choice for “The flagged answer is”"):
        review_item_submit(item_id=badcase_item.id, user=annotator, decision=good_decision(conversation, verdict="meh"))
    badcase_item.refresh_from_db()
    assert (badcase_item.status, badcase_item.submitted_count) == (ReviewItem.Status.OPEN, 0)


def test_a_missing_required_field_is_refused(badcase_item, annotator, conversation):
    review_item_claim_next(queue=badcase_item.queue, user=annotator)
    decision = good_decision(conversation)
    del decision["quality"]
    with pytest.raises(ValueError, match="choose a value for “Quality"):
        review_item_submit(item_id=badcase_item.id, user=annotator, decision=decision)


def test_training_on_a_user_turn_is_refused(badcase_item, annotator, conversation):
    question = conversation.messages.get(seq=3)
    review_item_claim_next(queue=badcase_item.queue, user=annotator)
    with pytest.raises(ValueError, match="only assistant answers"):
        review_item_submit(
            item_id=badcase_item.id,
            user=annotator,
            decision=good_decision(conversation, turns={str(question.id): {"train": True}}),
        )


def test_a_turn_from_another_conversation_is_refused(badcase_item, annotator, conversation):
    review_item_claim_next(queue=badcase_item.queue, user=annotator)
    with pytest.raises(ValueError, match="not a turn of this conversation"):
        review_item_submit(
            item_id=badcase_item.id,
            user=annotator,
            decision=good_decision(conversation, turns={"999999": {"train": True}}),
        )


def test_submitting_without_a_claim_is_refused(badcase_item, annotator, conversation):
    with pytest.raises(ReviewError):
        review_item_submit(item_id=badcase_item.id, user=annotator, decision=good_decision(conversation))


def two_reviewer_item(engineer, conversation):
    review_queue_save(user=engineer, slug="rec2", name="Recording x2", kind="test_recording", reviewers_per_item=2)
    return review_item_enqueue(
        kind="test_recording",
        subject_type="session",
        subject_id=str(conversation.id),
        session_id=conversation.id,
        payload={},
        queue_slug="rec2",
    )


def test_agreeing_reviewers_decide_and_apply_runs_once(engineer, make_reviewers, conversation):
    item = two_reviewer_item(engineer, conversation)
    first, second = make_reviewers(2)
    submit(item, first, {"ok": "yes"})
    assert APPLIED == []
    submit(item, second, {"ok": "yes"})
    assert [(i, d) for i, d, _ in APPLIED] == [(item.id, {"ok": "yes"})]
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DONE


def test_disagreeing_reviewers_send_the_item_to_adjudication(engineer, make_reviewers, conversation):
    item = two_reviewer_item(engineer, conversation)
    first, second = make_reviewers(2)
    submit(item, first, {"ok": "yes"})
    submit(item, second, {"ok": "no"})
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.ADJUDICATING
    adjudication = ReviewItem.objects.get(kind="adjudication")
    assert adjudication.parent_id == item.id
    assert adjudication.payload["disagreements"] == ["ok"]
    assert adjudication.queue.audience == "engineers"
    assert APPLIED == []


def test_the_adjudicators_decision_is_final_and_applied(engineer, make_reviewers, conversation):
    item = two_reviewer_item(engineer, conversation)
    first, second = make_reviewers(2)
    submit(item, first, {"ok": "yes"})
    submit(item, second, {"ok": "no"})
    adjudication = ReviewItem.objects.get(kind="adjudication")
    submit(adjudication, engineer, {"ok": "no"})
    item.refresh_from_db()
    assert (item.status, item.final_decision, item.decided_by) == (ReviewItem.Status.DONE, {"ok": "no"}, engineer)
    assert APPLIED == [(item.id, {"ok": "no"}, engineer.username)]


def test_per_turn_continuity_answers_that_differ_are_a_disagreement(engineer, make_reviewers, conversation):
    item = two_reviewer_item(engineer, conversation)
    question = str(conversation.messages.get(seq=3).id)
    first, second = make_reviewers(2)
    submit(item, first, {"ok": "yes", "turns": {question: {"continuity": True}}})
    submit(item, second, {"ok": "yes", "turns": {question: {"continuity": False}}})
    adjudication = ReviewItem.objects.get(kind="adjudication")
    assert adjudication.payload["disagreements"] == [f"continuity:{question}"]


def test_a_single_reviewers_decision_is_in_the_audit_log(badcase_item, annotator, conversation):
    submit(badcase_item, annotator, good_decision(conversation))
    event = AuditEvent.objects.get(target_type="review_item", target_id=str(badcase_item.id))
    assert (event.action, event.actor, event.detail["decision"]["verdict"]) == ("review.decide", annotator, "bad")


def test_every_submission_and_the_final_decision_are_in_the_audit_log(engineer, make_reviewers, conversation):
    item = two_reviewer_item(engineer, conversation)
    first, second = make_reviewers(2)
    submit(item, first, {"ok": "yes"})
    submit(item, second, {"ok": "yes"})
    actions = list(
        AuditEvent.objects.filter(target_type="review_item", target_id=str(item.id))
        .order_by("id")
        .values_list("action", "actor__username")
    )
    assert actions == [
        ("review.submit", first.username),
        ("review.submit", second.username),
        ("review.decide", second.username),
    ]


@pytest.mark.parametrize(
    "turns, english, chinese",
    [
        ("not an object", "turns must be an object keyed by message id", "turns 必须是以消息 id 为键的对象"),
        ({"abc": {"train": True}}, "turn key 'abc' is not a message id", "轮次键 'abc' 不是消息 id"),
        (
            {"{answer}": {"train": "yes"}},
            "turn {answer}: train must be true or false",
            "轮次 {answer}：train 必须是 true 或 false",
        ),
        (
            {"{answer}": {"rating": 5}},
            "turn {answer}: 'rating' is not something this kind of review records",
            "轮次 {answer}：这类审核不记录 'rating'",
        ),
        (
            {"{question}": {"train": True}},
            "message {question} is a user turn; only assistant answers are trained on or edited",
            "消息 {question} 是用户轮次；只有助手回答才能用于训练或被编辑",
        ),
        (
            {"999999": {"train": True}},
            "message 999999 is not a turn of this conversation",
            "消息 999999 不是这段对话中的轮次",
        ),
    ],
)
def test_a_malformed_decision_is_refused_in_the_annotators_language(
    badcase_item, annotator, conversation, turns, english, chinese
):
    from django.utils import translation

    ids = {"answer": conversation.messages.get(seq=4).id, "question": conversation.messages.get(seq=3).id}
    if isinstance(turns, dict):
        turns = {key.format(**ids): value for key, value in turns.items()}
    review_item_claim_next(queue=badcase_item.queue, user=annotator)
    for language, expected in (("en", english), ("zh-hans", chinese)):
        with translation.override(language), pytest.raises(ValueError) as refused:
            review_item_submit(
                item_id=badcase_item.id, user=annotator, decision=good_decision(conversation, turns=turns)
            )
        assert str(refused.value) == expected.format(**ids)
    badcase_item.refresh_from_db()
    assert (badcase_item.status, badcase_item.submitted_count) == (ReviewItem.Status.OPEN, 0)


def test_a_decision_that_is_not_an_object_is_refused_in_chinese(badcase_item):
    from django.utils import translation

    from flywheel.review.kinds import review_kind_get

    with translation.override("zh-hans"), pytest.raises(ValueError, match="决定必须是一个对象"):
        review_kind_get("badcase_answer").validate(["verdict", "bad"])
