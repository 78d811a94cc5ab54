"""The review pages in headless Chromium: an annotator works with the keyboard only, an
engineer filters and bulk-routes, Chinese renders."""

from __future__ import annotations

import gzip
import json

import pytest

from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_enqueue, review_queue_save
from tests.factories import FeedbackFactory, session_with_turns

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _preview_tokenizer_made():
    """The loss preview's tiny tokenizer is made on first use, which takes longer than a page
    waits on a loaded machine; make it before the page asks (the live server shares the cache)."""
    from flywheel.review.loss_preview import review_tokenizer

    review_tokenizer()


def flagged_conversation(turns):
    session = session_with_turns(turns)
    answer = session.messages.filter(role="assistant").order_by("-seq").first()
    FeedbackFactory(message=answer, rating=-1, comment="wrong")
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        session_id=session.id,
        message_id=answer.id,
        payload={"comment": "wrong"},
    )
    return session, answer, item


def test_an_annotator_claims_labels_edits_and_submits_with_the_keyboard_only(page, log_in, annotator):
    session, answer, item = flagged_conversation(
        [
            ("user", "How do I reverse a list in Python?"),
            ("assistant", "Use `reversed(items)`."),
            ("user", "And sort it?"),
            ("assistant", "items.sort() returns the sorted list."),
        ]
    )
    flagged_conversation([("user", "Next question"), ("assistant", "Next answer")])
    first_answer, question = session.messages.get(seq=2), session.messages.get(seq=3)
    log_in(page, annotator)
    page.goto("/review/")
    page.keyboard.press("1")  # start the first queue
    page.wait_for_url(f"**/review/items/{item.id}/")
    page.wait_for_selector("#loss-preview .tok-loss")
    page.keyboard.press("?")
    assert page.locator("#help-overlay").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help-overlay").is_visible()
    for key in ("1", "2", "4"):  # verdict: bad; task type: code; quality: 4
        page.keyboard.press(key)
    page.keyboard.press("k")  # up to the user's question: it continues the topic
    page.keyboard.press("y")
    page.keyboard.press("k")  # up to the first answer: do not train on it
    page.keyboard.press("t")
    page.keyboard.press("j")
    page.keyboard.press("j")  # back to the flagged answer: rewrite it
    page.keyboard.press("e")
    page.keyboard.press("Control+a")
    page.keyboard.type("items.sort() sorts in place and returns None.")
    page.keyboard.press("Escape")
    page.wait_for_selector(f"#diff-{answer.id} .diff-text ins")
    page.wait_for_function(
        "document.querySelector('#loss-preview .tokens') && "
        "document.querySelector('#loss-preview .tokens').textContent.includes('in place')"
    )
    supervised = "".join(page.locator("#loss-preview .tok-loss").all_text_contents())
    assert "in place" in supervised and "reversed" not in supervised
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"/review/items/{item.id}/" not in url)
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DONE
    decision = item.final_decision
    assert (decision["verdict"], decision["task_type"], decision["quality"]) == ("bad", "code", "4")
    assert decision["turns"][str(answer.id)] == {
        "train": True,
        "edited": "items.sort() sorts in place and returns None.",
    }
    assert decision["turns"][str(first_answer.id)] == {"train": False}
    assert decision["turns"][str(question.id)] == {"continuity": True}
    assert page.problems == []


def test_an_engineer_filters_and_bulk_routes_exactly_the_filtered_items(page, log_in, engineer):
    items = [flagged_conversation([("user", f"q{i}"), ("assistant", f"a{i}")])[2] for i in range(5)]
    ReviewItem.objects.filter(id__in=[items[1].id, items[3].id]).update(priority=7)
    review_queue_save(user=engineer, slug="urgent", name="Urgent bad cases", kind="badcase_answer")
    source = items[0].queue
    log_in(page, engineer)
    page.goto(f"/review/queues/{source.slug}/")
    page.fill("input[name=priority_min]", "7")
    page.click("#apply-filters")
    page.wait_for_url("**priority_min=7**")
    assert page.locator("tbody tr").count() == 2
    page.check("#select-all")
    page.select_option("#bulk-action", "reroute")
    page.select_option("#bulk-target", "urgent")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-apply")
    page.wait_for_selector(".flash-success")
    moved = set(ReviewItem.objects.filter(queue__slug="urgent").values_list("id", flat=True))
    assert moved == {items[1].id, items[3].id}
    assert page.problems == []


def test_chinese_conversations_render_on_the_annotators_page(page, log_in, annotator, shared_datasets, tmp_path):
    with gzip.open(shared_datasets / "kdconv-film-dev.json.gz", "rt", encoding="utf-8") as handle:
        dialogue = json.load(handle)[0]["messages"][:6]
    turns = [("user" if i % 2 == 0 else "assistant", m["message"]) for i, m in enumerate(dialogue)]
    _, _, item = flagged_conversation(turns)
    log_in(page, annotator)
    page.goto("/review/")
    page.keyboard.press("1")
    page.wait_for_url(f"**/review/items/{item.id}/")
    page.wait_for_selector("#loss-preview .tok-loss")
    page.screenshot(path=str(tmp_path / "chinese.png"), full_page=True)
    transcript = page.locator(".transcript").inner_text()
    for _, text in turns:
        assert text[:10] in transcript
    assert "".join(page.locator("#loss-preview .tok-loss").all_text_contents()).count(turns[-1][1][:4]) >= 1
    assert (tmp_path / "chinese.png").stat().st_size > 10_000
    assert page.problems == []
