"""Per-queue guidelines: Markdown written by engineers, versioned, rendered safely on the item
page and in the `?` help, and named by every decision made under them."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from flywheel.accounts.models import AuditEvent
from flywheel.review.guidelines import GUIDELINE_MAX_CHARS, review_guideline_current, review_guideline_save
from flywheel.review.models import ReviewAssignment
from flywheel.review.services import review_item_submit
from tests.flywheel.review.test_browser import flagged_conversation

HOSTILE = "Judge the **last** answer.\n\n<script>alert('x')</script> <img src=x onerror=alert(1)>\n\n- cite the turn"


def test_each_change_is_a_new_version_and_an_unchanged_save_is_not(engineer, badcase_item):
    queue = badcase_item.queue
    first = review_guideline_save(queue=queue, user=engineer, body="Be kind.\r\n")
    assert (first.version, first.body) == (1, "Be kind.")
    assert review_guideline_save(queue=queue, user=engineer, body="Be kind.").id == first.id
    second = review_guideline_save(queue=queue, user=engineer, body="Be kind and exact.")
    assert second.version == 2 and review_guideline_current(queue=queue) == second
    assert list(
        AuditEvent.objects.filter(action="review.guideline.edit")
        .order_by("id")
        .values_list("detail__version", flat=True)
    ) == [
        1,
        2,
    ]


def test_annotators_cannot_edit_and_oversized_text_is_refused(annotator, engineer, badcase_item, client):
    with pytest.raises(PermissionDenied):
        review_guideline_save(queue=badcase_item.queue, user=annotator, body="mine now")
    with pytest.raises(ValueError, match="at most"):
        review_guideline_save(queue=badcase_item.queue, user=engineer, body="x" * (GUIDELINE_MAX_CHARS + 1))
    client.force_login(annotator)
    url = reverse("review:queue_guidelines", args=[badcase_item.queue.slug])
    assert client.post(url, {"body": "mine now"}).status_code == 403
    client.force_login(engineer)
    response = client.post(url, {"body": "x" * (GUIDELINE_MAX_CHARS + 1)})
    assert response.status_code == 422 and "at most" in response.content.decode()
    assert review_guideline_current(queue=badcase_item.queue) is None


def test_the_item_page_shows_the_guidelines_rendered_safely_and_the_decision_names_the_version(
    client, annotator, engineer, badcase_item, conversation
):
    client.force_login(engineer)
    response = client.post(reverse("review:queue_guidelines", args=[badcase_item.queue.slug]), {"body": HOSTILE})
    assert response.status_code == 302
    client.force_login(annotator)
    client.post(reverse("review:claim_next", args=[badcase_item.queue.slug]))
    html = client.get(reverse("review:item", args=[badcase_item.id])).content.decode()
    assert 'id="guidelines"' in html and "version 1" in html
    assert html.count("<strong>last</strong>") == 2  # beside the item and in the ? help
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html  # shown as text, never run
    assert "<img" not in html.split('id="guidelines"')[1].split("</details>")[0]
    review_item_submit(
        item_id=badcase_item.id, user=annotator, decision={"verdict": "bad", "task_type": "qa", "quality": "2"}
    )
    assert ReviewAssignment.objects.get(item=badcase_item).guideline_version == 1


@pytest.mark.browser
def test_the_shortcut_help_shows_the_queues_guidelines(page, log_in, annotator, engineer):
    _, _, item = flagged_conversation([("user", "What is 2 + 2?"), ("assistant", "5")])
    review_guideline_save(queue=item.queue, user=engineer, body=HOSTILE)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, annotator)
    page.goto("/review/")
    page.keyboard.press("1")
    page.wait_for_url(f"**/review/items/{item.id}/")
    page.keyboard.press("?")
    help_text = page.locator("#help-overlay").inner_text()
    assert "Guidelines for" in help_text and "cite the turn" in help_text
    assert page.locator("#help-overlay .guideline-body strong").inner_text() == "last"
    assert dialogs == [] and page.problems == []
