"""Suggestions pre-filled: the labeler's task type and quality (and other models' guesses)
pre-selected and marked "suggested by <source>", agreeing is one Enter, and the agreement page
counts how often reviewers kept them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from flywheel.labeling.models import Label
from flywheel.review.models import ReviewAssignment
from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit
from flywheel.review.stats import review_suggestion_uptake
from tests.factories import session_with_turns
from tests.flywheel.review.test_browser import flagged_conversation


def _label(session, **values):
    fields = dict(
        source="offline",
        prompt_version="offline-v1",
        model="offline:x",
        task_type="code",
        quality=2,
        usable=False,
        reason="",
    )
    fields.update(values)
    return Label.objects.create(session=session, **fields)


@pytest.fixture
def labelled_item(db):
    session, answer, item = flagged_conversation(
        [("user", "How do I sort a list?"), ("assistant", "list.sort() returns the sorted list.")]
    )
    _label(session)
    return session, answer, item


def test_the_labelers_task_type_and_quality_are_pre_selected_and_say_who_suggests_them(
    client, annotator, labelled_item
):
    _, _, item = labelled_item
    client.force_login(annotator)
    client.post(reverse("review:claim_next", args=[item.queue.slug]))
    html = client.get(reverse("review:item", args=[item.id])).content.decode()
    assert 'name="field-task_type" value="code" checked' in html
    assert 'name="field-quality" value="2" checked' in html
    assert html.count("suggested by the offline labeler") == 2
    assert 'name="field-verdict" value="bad" checked' not in html  # nobody suggests a verdict


def test_the_agreement_page_counts_how_often_suggestions_were_kept(client, make_reviewers, engineer):
    first, second = make_reviewers(2)
    items = []
    for index in range(2):
        session, _, item = flagged_conversation([("user", f"question {index}"), ("assistant", f"answer {index}")])
        _label(session, task_type="qa", quality=3)
        items.append(item)
    for item, reviewer, task_type in ((items[0], first, "qa"), (items[1], second, "code")):
        assert review_item_claim_next(queue=item.queue, user=reviewer).item.id == item.id
        review_item_submit(
            item_id=item.id, user=reviewer, decision={"verdict": "bad", "task_type": task_type, "quality": "3"}
        )
    assert ReviewAssignment.objects.get(item=items[0]).suggested["fields"] == {"task_type": "qa", "quality": "3"}
    rows = {row["field"]: row for row in review_suggestion_uptake()}
    assert (rows["task_type"]["shown"], rows["task_type"]["kept"], rows["task_type"]["changed"]) == (2, 1, 1)
    assert rows["quality"]["percent"] == 100.0
    client.force_login(engineer)
    html = client.get(reverse("review:agreement")).content.decode()
    assert 'data-uptake="badcase_answer.task_type"' in html and "1 (50.0 %)" in html


@pytest.mark.browser
def test_agreeing_with_every_suggestion_is_one_enter(page, log_in, annotator):
    session = session_with_turns([("user", "Tell me a joke"), ("assistant", "Why did the chicken cross the road?")])
    label = _label(session, source="llm", task_type="chitchat", quality=2, usable=True, model="m", prompt_version="v1")
    item = review_item_enqueue(
        kind="label",
        subject_type="label",
        subject_id=str(label.id),
        session_id=session.id,
        payload={"reason": "low quality (2)", "source": "llm", "task_type": "chitchat", "quality": 2, "signals": []},
    )
    log_in(page, annotator)
    page.goto("/review/")
    page.keyboard.press("1")
    page.wait_for_url(f"**/review/items/{item.id}/")
    assert page.locator(".suggested").first.inner_text() == "suggested by the LLM labeler"
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"/review/items/{item.id}/" not in url)
    item.refresh_from_db()
    assert item.status == "done"
    assert item.final_decision == {"task_type": "chitchat", "quality": "2", "usable": "yes"}
    assert page.problems == []
