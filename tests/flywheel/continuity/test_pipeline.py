import pytest

from flywheel.continuity.models import ContinuityHumanLabel, ContinuityPrediction, Segment, SessionContinuity
from flywheel.continuity.routing import uncertain_continuity_to_review
from flywheel.continuity.selectors import topic_switches_for_sessions
from flywheel.continuity.services import _segments, continuity_run_pending
from flywheel.review.models import ReviewItem, ReviewQueue
from flywheel.review.services import review_item_claim_next, review_item_submit
from tests.factories import session_with_turns

pytestmark = pytest.mark.django_db

ONE_TOPIC = [
    ("user", "What is the capital of France?"),
    ("assistant", "Paris is the capital of France."),
    ("user", "What is its population?"),
    ("assistant", "About two million people live in Paris."),
]
SWITCHED = [
    ("user", "How do I bake sourdough bread at home?"),
    ("assistant", "Mix flour, water, salt and starter, let it rise overnight, then bake at 250 °C."),
    ("user", "How long should the dough rise?"),
    ("assistant", "About 8 to 12 hours at room temperature."),
    ("user", "Hello! Can you explain how a car engine's turbocharger works?"),
    ("assistant", "A turbocharger uses exhaust gas to spin a turbine that compresses intake air."),
]


@pytest.fixture
def predicted(db):
    from flywheel.cleaning.services import cleaning_run_pending

    sessions = {"one": session_with_turns(ONE_TOPIC), "switched": session_with_turns(SWITCHED)}
    cleaning_run_pending()
    continuity_run_pending()
    return sessions


def test_every_user_turn_after_the_first_gets_a_probability(predicted):
    session = predicted["switched"]
    values = list(
        ContinuityPrediction.objects.filter(session=session)
        .order_by("message__seq")
        .values_list("message__seq", "probability")
    )
    assert [seq for seq, _ in values] == [3, 5] and all(0 <= p <= 1 for _, p in values)


def test_a_session_that_switches_topic_is_cut_into_segments(predicted):
    segments = list(
        Segment.objects.filter(session=predicted["switched"]).values_list("first_seq", "last_seq", "pseudo_multi_turn")
    )
    assert segments == [(1, 4, True), (5, 6, True)]


def test_a_session_on_one_topic_stays_whole(predicted):
    segments = list(
        Segment.objects.filter(session=predicted["one"]).values_list("first_seq", "last_seq", "pseudo_multi_turn")
    )
    assert segments == [(1, 4, False)]


def test_the_dataset_builder_gets_the_switching_user_turns(predicted):
    session = predicted["switched"]
    switching = session.messages.get(seq=5).id
    assert topic_switches_for_sessions(session_ids=[session.id, predicted["one"].id]) == {
        session.id: [switching],
        predicted["one"].id: [],
    }


def test_predicting_again_changes_nothing(predicted):
    before = ContinuityPrediction.objects.count()
    assert continuity_run_pending()["sessions"] == 0 and ContinuityPrediction.objects.count() == before


def test_uncertain_turns_go_to_continuity_review_and_the_answer_recuts_the_session(predicted, annotator, monkeypatch):
    session = predicted["switched"]
    summary = SessionContinuity.objects.get(session=session)
    summary.uncertain_message_ids = [session.messages.get(seq=5).id]
    summary.save()
    uncertain_continuity_to_review(after=0, limit=100)
    item = ReviewItem.objects.get(kind="continuity")
    claim = review_item_claim_next(queue=ReviewQueue.objects.get(id=item.queue_id), user=annotator)
    review_item_submit(
        item_id=claim.item.id,
        user=annotator,
        decision={"turns": {str(session.messages.get(seq=5).id): {"continuity": True}}},
    )
    assert ContinuityHumanLabel.objects.get().continues is True
    assert list(Segment.objects.filter(session=session).values_list("first_seq", "last_seq")) == [(1, 6)]


def test_the_topic_models_call_on_each_uncertain_turn_is_pre_selected_without_loading_the_model(predicted):
    from flywheel.review.suggestions import review_suggestions

    session = predicted["switched"]
    switching = session.messages.get(seq=5)
    summary = SessionContinuity.objects.get(session=session)
    summary.uncertain_message_ids = [switching.id]
    summary.save()
    uncertain_continuity_to_review(after=0, limit=100)
    item = ReviewItem.objects.get(kind="continuity")
    continues = ContinuityPrediction.objects.get(message=switching).continues
    assert item.payload["guesses"] == {str(switching.id): continues}
    suggestion = review_suggestions(item=item).turns[str(switching.id)]
    assert suggestion.value == ("yes" if continues else "no") and suggestion.source == "the topic model"


def test_a_continuity_review_needs_at_least_one_answer(predicted, annotator):
    from flywheel.review.kinds import review_kind_get

    with pytest.raises(ValueError, match="at least one"):
        review_kind_get("continuity").validate({})


def test_segments_are_cut_before_each_switching_user_turn():
    assert _segments([1, 3, 5, 7], 8, 1, {5}) == [(1, 4, 2), (5, 8, 2)]
    assert _segments([2, 4], 5, 1, set()) == [(1, 5, 2)]


def test_the_annotator_page_asks_about_the_uncertain_turns(predicted, annotator, client):
    from django.urls import reverse

    session = predicted["switched"]
    summary = SessionContinuity.objects.get(session=session)
    summary.uncertain_message_ids = [session.messages.get(seq=5).id]
    summary.save()
    uncertain_continuity_to_review(after=0, limit=100)
    item = ReviewItem.objects.get(kind="continuity")
    review_item_claim_next(queue=ReviewQueue.objects.get(id=item.queue_id), user=annotator)
    client.force_login(annotator)
    page = client.get(reverse("review:item", args=[item.id])).content.decode()
    assert "P(continues)" in page and "unsure about 1 turn" in page


def test_each_user_turn_is_cut_by_the_threshold_of_its_language(db, packaged_model):
    from dataclasses import replace

    from flywheel.continuity.services import ActiveModel, continuity_predict_sessions

    # Every Chinese turn falls below its cut, no English one does: the cut follows the turn's language.
    strict_zh = replace(packaged_model, thresholds={"zh": 1.01, "en": -0.01})
    model = ActiveModel(version="per-language", classifier=strict_zh, threshold=0.5, packaged=True)
    session = session_with_turns(
        [
            ("user", "How do I boil an egg?"),
            ("assistant", "Nine minutes."),
            ("user", "这部电影的导演是谁？"),
            ("assistant", "陈凯歌。"),
            ("user", "And a soft-boiled one?"),
            ("assistant", "Six minutes."),
        ]
    )
    continuity_predict_sessions(session_ids=[session.id], model=model)
    decided = dict(
        ContinuityPrediction.objects.filter(session=session, model_version="per-language").values_list(
            "message__seq", "continues"
        )
    )
    assert decided == {3: False, 5: True}
