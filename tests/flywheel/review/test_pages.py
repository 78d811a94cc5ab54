import pytest
from django.urls import reverse

from flywheel.review.models import ReviewAssignment, ReviewItem
from flywheel.review.services import review_item_claim_next
from tests.flywheel.review.conftest import good_decision


@pytest.fixture
def claimed(client, annotator, badcase_item):
    client.force_login(annotator)
    review_item_claim_next(queue=badcase_item.queue, user=annotator)
    return badcase_item


def test_the_queues_page_lists_the_queues_open_to_the_annotator(client, annotator, badcase_item):
    client.force_login(annotator)
    response = client.get(reverse("review:home"))
    assert response.status_code == 200
    assert "Bad-case answers" in response.content.decode()


def test_starting_a_queue_claims_an_item_and_opens_it(client, annotator, badcase_item):
    client.force_login(annotator)
    response = client.post(reverse("review:claim_next", args=[badcase_item.queue.slug]))
    assert response.status_code == 302
    assert response.url == reverse("review:item", args=[badcase_item.id])
    assert ReviewAssignment.objects.get().reviewer == annotator


def test_the_item_page_shows_the_conversation_with_its_controls(client, claimed, conversation):
    response = client.get(reverse("review:item", args=[claimed.id]))
    html = response.content.decode()
    answer = conversation.messages.get(seq=4)
    assert response.status_code == 200
    assert f'name="turn-{answer.id}-train"' in html
    assert f'name="turn-{answer.id}-edited"' in html
    assert "sort() returns None" in html


def test_submitting_the_form_records_the_decision_and_moves_on(client, claimed, conversation):
    answer = conversation.messages.get(seq=4)
    response = client.post(
        reverse("review:item_submit", args=[claimed.id]),
        {
            "field-verdict": "bad",
            "field-task_type": "code",
            "field-quality": "2",
            f"turn-{answer.id}-train": "1",
            f"turn-{answer.id}-edited": "Fixed\r\nanswer",
            f"turn-{conversation.messages.get(seq=3).id}-continuity": "yes",
        },
    )
    assert response.status_code == 302
    claimed.refresh_from_db()
    assert claimed.status == ReviewItem.Status.DONE
    turns = claimed.final_decision["turns"]
    assert turns[str(answer.id)] == {"train": True, "edited": "Fixed\nanswer"}
    assert turns[str(conversation.messages.get(seq=3).id)] == {"continuity": True}
    assert turns[str(conversation.messages.get(seq=2).id)] == {"train": False}


def test_an_invalid_submission_keeps_what_was_typed(client, claimed, conversation):
    answer = conversation.messages.get(seq=4)
    response = client.post(
        reverse("review:item_submit", args=[claimed.id]),
        {"field-verdict": "bad", f"turn-{answer.id}-edited": "My careful rewrite", "note": "keep me"},
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "choose a value for “Task type”" in html
    assert "My careful rewrite" in html and "keep me" in html
    assert 'value="bad" checked' in html


def test_an_annotator_without_the_claim_is_sent_back_to_the_queues(client, make_reviewers, badcase_item):
    first, second = make_reviewers(2)
    review_item_claim_next(queue=badcase_item.queue, user=first)
    client.force_login(second)
    response = client.get(reverse("review:item", args=[badcase_item.id]))
    assert response.status_code == 302


def test_the_loss_preview_marks_only_ticked_answers(client, claimed, conversation):
    first_answer, second_answer = conversation.messages.filter(role="assistant").order_by("seq")
    response = client.post(reverse("review:preview_loss", args=[claimed.id]), {f"turn-{second_answer.id}-train": "1"})
    html = response.content.decode()
    assert 'class="tok tok-loss"' in html
    supervised = "".join(part.split("</span>")[0] for part in html.split('class="tok tok-loss">')[1:])
    assert "items.sort()" in supervised and "reversed" not in supervised


def test_the_loss_preview_says_when_nothing_would_be_trained(client, claimed):
    response = client.post(reverse("review:preview_loss", args=[claimed.id]), {})
    assert "No answer would be trained on" in response.content.decode()


def test_the_diff_shows_what_the_edit_changed(client, claimed, conversation):
    answer = conversation.messages.get(seq=4)
    response = client.post(
        reverse("review:preview_diff", args=[claimed.id, answer.id]),
        {f"turn-{answer.id}-edited": "Call items.sort() — it sorts in place."},
    )
    html = response.content.decode()
    assert "<del>sorted list</del><ins>place</ins>" in html


def test_skipping_the_last_item_goes_home_and_start_offers_it_again(client, claimed, annotator):
    response = client.post(reverse("review:item_skip", args=[claimed.id]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review:home")
    html = response.content.decode()
    assert "Only items you skipped are left" in html
    assert 'data-for-me="1"' in html and "1 you skipped, offered last" in html
    assert ReviewAssignment.objects.get().state == ReviewAssignment.State.SKIPPED
    response = client.post(reverse("review:claim_next", args=[claimed.queue.slug]))
    assert response.url == reverse("review:item", args=[claimed.id])


def test_not_for_me_gives_the_item_away_and_the_count_says_so(client, claimed, annotator):
    response = client.post(reverse("review:item_decline", args=[claimed.id]), follow=True)
    html = response.content.decode()
    assert "will not be offered to you again" in html and 'data-for-me="0"' in html
    assert ReviewAssignment.objects.get().state == ReviewAssignment.State.DECLINED


def test_the_claim_api_returns_the_item_as_json(client, annotator, badcase_item):
    client.force_login(annotator)
    response = client.post(reverse("review:api_claim", args=[badcase_item.queue.slug]))
    assert response.status_code == 200
    assert response.json()["item"] == badcase_item.id


def test_the_claim_api_answers_204_when_the_queue_is_empty(client, make_reviewers, badcase_item):
    first, second = make_reviewers(2)
    review_item_claim_next(queue=badcase_item.queue, user=first)
    client.force_login(second)
    assert client.post(reverse("review:api_claim", args=[badcase_item.queue.slug])).status_code == 204


def test_engineers_see_a_read_only_item_with_its_decisions(client, engineer, annotator, badcase_item, conversation):
    from flywheel.review.services import review_item_submit

    review_item_claim_next(queue=badcase_item.queue, user=annotator)
    review_item_submit(item_id=badcase_item.id, user=annotator, decision=good_decision(conversation))
    client.force_login(engineer)
    html = client.get(reverse("review:item", args=[badcase_item.id])).content.decode()
    assert "without holding it" in html and "Final" in html


@pytest.mark.parametrize(
    "name", ["review:queues", "review:throughput", "review:agreement", "review:audit", "review:queue_new"]
)
def test_the_engineers_pages_render(client, engineer, badcase_item, name):
    client.force_login(engineer)
    assert client.get(reverse(name)).status_code == 200


def test_the_queue_item_list_renders(client, engineer, badcase_item):
    client.force_login(engineer)
    response = client.get(reverse("review:queue_items", args=[badcase_item.queue.slug]))
    assert response.status_code == 200
    assert f"#{badcase_item.id}" in response.content.decode()


def test_the_session_page_shows_the_review_panel(client, engineer, badcase_item, conversation):
    client.force_login(engineer)
    html = client.get(reverse("ingest:session_detail", args=[conversation.external_id])).content.decode()
    assert "sort() returns None" in html  # the user's feedback comment beside the turn
    assert f"#{badcase_item.id}" in html and "badcase_answer" in html
