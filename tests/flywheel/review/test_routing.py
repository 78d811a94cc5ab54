from flywheel.pipeline.models import Cursor
from flywheel.pipeline.services import pipeline_run
from flywheel.review.models import ReviewItem
from flywheel.review.routing import routing_run
from tests.factories import FeedbackFactory


def test_every_thumbs_down_answer_goes_to_the_badcase_queue(conversation):
    report = routing_run()
    item = ReviewItem.objects.get()
    answer = conversation.messages.get(seq=4)
    assert (item.kind, item.message_id, item.session_id) == ("badcase_answer", answer.id, conversation.id)
    assert item.payload["comment"] == "sort() returns None"
    assert report["thumbs-down-to-badcase"] == 1


def test_routing_twice_changes_nothing(conversation):
    routing_run()
    Cursor.objects.all().delete()  # even with the cursor lost
    routing_run()
    assert ReviewItem.objects.count() == 1


def test_a_second_thumbs_down_on_the_same_answer_adds_no_item(conversation):
    routing_run()
    FeedbackFactory(message=conversation.messages.get(seq=4), rating=-1)
    routing_run()
    assert ReviewItem.objects.count() == 1


def test_thumbs_up_answers_are_not_routed(conversation):
    FeedbackFactory(message=conversation.messages.get(seq=2), rating=1)
    routing_run()
    assert list(ReviewItem.objects.values_list("message__seq", flat=True)) == [4]


def test_the_review_pipeline_stage_routes_new_feedback(conversation):
    report = pipeline_run(only={"review"})
    assert report["review"]["thumbs-down-to-badcase"] == 1


def test_thumbs_down_in_sessions_cleaning_dropped_are_not_routed(conversation):
    from django.utils import timezone

    from flywheel.cleaning.models import SessionCleaning

    SessionCleaning.objects.create(
        session=conversation, status="dropped", config_fingerprint="test", cleaned_at=timezone.now()
    )
    routing_run()
    assert not ReviewItem.objects.exists()
