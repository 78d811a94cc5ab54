"""Keys typed outside a text box, in headless Chromium: what an annotator types with no box
focused never skips, picks answers or submits (reported: `e` on a user turn, which has no edit
box, then typing an answer skipped two items, picked answers and submitted a third)."""

from __future__ import annotations

import pytest

from flywheel.review.models import ReviewAssignment, ReviewItem
from tests.flywheel.review.test_browser import flagged_conversation

pytestmark = pytest.mark.browser

TURNS = [
    ("user", "How do I sort a list in Python?"),
    ("assistant", "Use items.sort(), it returns the sorted list."),
    ("user", "Does it copy the list?"),
    ("assistant", "Yes, sort() always copies."),
]


def _three_items():
    return [flagged_conversation(TURNS)[2] for _ in range(3)]


def test_typing_an_answer_after_e_on_a_user_turn_skips_picks_and_submits_nothing(page, log_in, annotator):
    items = _three_items()
    log_in(page, annotator)
    page.goto("/review/")
    page.keyboard.press("1")
    page.wait_for_url(f"**/review/items/{items[0].id}/")
    page.keyboard.press("k")  # up to the user's question, which has no edit box
    page.keyboard.press("e")
    status = page.locator("#key-status")
    assert "no edit box" in status.inner_text()
    page.keyboard.type("Use sorted(items) 2 times, it is safest")
    page.keyboard.press("Enter")
    page.keyboard.type("ss")
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)  # give a wrongly sent form the time to leave the page
    assert page.url.endswith(f"/review/items/{items[0].id}/")
    assert "paused" in status.inner_text()
    assert page.locator("input[type=radio]:checked").count() == 0
    assert set(ReviewAssignment.objects.values_list("item_id", "state")) == {(items[0].id, "claimed")}
    assert set(ReviewItem.objects.values_list("submitted_count", flat=True)) == {0}
    # Esc turns the shortcuts back on, and they work as before.
    page.keyboard.press("Escape")
    assert "back on" in status.inner_text()
    page.keyboard.press("1")
    assert page.locator("input[type=radio]:checked").count() == 1
    assert page.problems == []


def test_a_stray_letter_pauses_the_shortcuts_and_skipping_takes_s_twice(page, log_in, annotator):
    items = _three_items()
    log_in(page, annotator)
    page.goto("/review/")
    page.keyboard.press("1")
    page.wait_for_url(f"**/review/items/{items[0].id}/")
    page.keyboard.press("s")  # armed, not skipped
    assert "Press s again" in page.locator("#key-status").inner_text()
    page.keyboard.press("u")  # "su...": a word, not a skip
    page.keyboard.type("re, 1 more")
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    assert page.url.endswith(f"/review/items/{items[0].id}/")
    assert ReviewAssignment.objects.get(item=items[0]).state == "claimed"
    assert page.locator("input[type=radio]:checked").count() == 0
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    page.keyboard.press("s")
    page.wait_for_url(f"**/review/items/{items[1].id}/")
    assert ReviewAssignment.objects.get(item=items[0]).state == "skipped"
    assert page.problems == []
