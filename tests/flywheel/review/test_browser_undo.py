"""Undo from the toast, in headless Chromium: an annotator submits, sees the toast on the next
item, clicks Undo and is back on the item with their answers as they left them."""

from __future__ import annotations

import pytest

from flywheel.review.models import ReviewAssignment, ReviewItem
from tests.flywheel.review.test_browser import flagged_conversation

pytestmark = pytest.mark.browser


def test_undo_from_the_toast_brings_the_item_back_with_the_answers(page, log_in, annotator, settings):
    settings.FLYWHEEL_REVIEW_UNDO_SECONDS = 60
    first = flagged_conversation([("user", "What is 2 + 2?"), ("assistant", "5")])[2]
    second = flagged_conversation([("user", "What is 3 + 3?"), ("assistant", "7")])[2]
    log_in(page, annotator)
    page.goto("/review/")
    page.keyboard.press("1")
    page.wait_for_url(f"**/review/items/{first.id}/")
    for key in ("1", "2", "3"):  # verdict, task type, quality
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/review/items/{second.id}/")
    toast = page.locator("#undo-toast")
    assert toast.is_visible() and f"Item #{first.id} submitted." in toast.inner_text()
    page.wait_for_function("document.querySelector('[data-undo-countdown]').textContent.includes(' s)')")
    assert ReviewItem.objects.get(id=first.id).status == "open"  # not final yet
    page.click("#undo-button")
    page.wait_for_url(f"**/review/items/{first.id}/")
    checked = page.locator("input[type=radio]:checked")
    assert checked.count() == 3
    assert ReviewAssignment.objects.get(item=first).state == "claimed"
    page.goto("/review/")
    assert page.locator("#undo-toast").count() == 0
    assert page.problems == []
