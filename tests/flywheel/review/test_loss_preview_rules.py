"""The loss preview ("as the trainer will see this conversation") follows the dataset builder's
rules exactly: for the same decisions, what the preview trains on before the decision is final
is what a build trains on after it. Reported: after verdict "bad" without a rewrite, the preview
still counted the answer."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from flywheel.datasets.supervision import session_as_trained
from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit
from tests.factories import FeedbackFactory, session_with_turns

REWRITE = "items.sort() sorts in place and returns None."
# Distinct conversations: cleaning would drop near-copies of one as duplicates.
TOPICS = {
    "bad-no-rewrite": ("a list of prices", "Use reversed(prices) or prices[::-1] in Python."),
    "bad-rewritten": ("the order of names", "names.reverse() flips the order in place."),
    "acceptable": ("a tuple of dates", "Tuples are immutable: build a new one with dates[::-1]."),
    "bad-first-unticked": ("a string of scores", "Slice it backwards: scores[::-1]."),
    "no-decision-yet": ("a deque of cities", "collections.deque has a reverse() method."),
}


def _flagged(name: str):
    session = session_with_turns(
        [
            ("user", f"How do I reverse {TOPICS[name][0]} in Python?"),
            ("assistant", TOPICS[name][1]),
            ("user", f"And how do I sort {TOPICS[name][0]}?"),
            ("assistant", "Call items.sort(), it returns the sorted list."),
        ],
        external_id=name,
    )
    first, flagged = session.messages.get(seq=2), session.messages.get(seq=4)
    FeedbackFactory(message=flagged, rating=-1, comment="sort() returns None")
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(flagged.id),
        payload={},
        session_id=session.id,
        message_id=flagged.id,
    )
    return session, first, flagged, item


def _decisions(first, flagged) -> dict[str, dict]:
    both = {str(first.id): {"train": True}, str(flagged.id): {"train": True}}
    return {
        "bad-no-rewrite": {"verdict": "bad", "task_type": "code", "quality": "2", "turns": both},
        "bad-rewritten": {
            "verdict": "bad",
            "task_type": "code",
            "quality": "2",
            "turns": {**both, str(flagged.id): {"train": True, "edited": REWRITE}},
        },
        "acceptable": {"verdict": "acceptable", "task_type": "code", "quality": "4", "turns": both},
        "bad-first-unticked": {
            "verdict": "harmful",
            "task_type": "code",
            "quality": "1",
            "turns": {**both, str(first.id): {"train": False}},
        },
        "no-decision-yet": None,
    }


@pytest.fixture
def cases(db, annotator):
    from flywheel.pipeline.services import pipeline_run

    made = {}
    for name in TOPICS:
        made[name] = _flagged(name)
    pipeline_run(only={"cleaning"})
    return made


def test_the_preview_trains_on_exactly_what_the_builder_trains_on_for_the_same_decisions(cases, annotator):
    from flywheel.datasets.models import DatasetSample
    from flywheel.datasets.services import dataset_build_request, dataset_build_run

    previews = {}
    for name, (session, first, flagged, item) in cases.items():
        decision = _decisions(first, flagged)[name]
        previews[name] = session_as_trained(session_id=session.id, pending=decision, pending_message_id=flagged.id)
        if decision is not None:
            assert review_item_claim_next(queue=item.queue, user=annotator).item.id == item.id
            review_item_submit(item_id=item.id, user=annotator, decision=decision)
    request = dataset_build_request(config={"eval_fraction": 0.0}, name="preview-vs-builder", enqueue=False)
    version_id = dataset_build_run(build_id=request.id)["version_id"]
    for name, (session, *_rest) in cases.items():
        built = list(DatasetSample.objects.filter(version_id=version_id, session_id=session.id, kind="sft"))
        trained, reason = previews[name]
        if trained is None:
            assert built == [], f"{name}: the preview leaves it out ({reason}), the builder took it"
        else:
            assert len(built) == 1, f"{name}: the preview trains on it, the builder left it out"
            assert built[0].record["messages"] == trained, name
    assert all("sorted list" not in m["content"] for m in previews["bad-no-rewrite"][0])  # the bad answer is cut
    assert previews["bad-rewritten"][0][-1] == {"role": "assistant", "content": REWRITE, "train": True}
    assert previews["acceptable"][0][-1]["train"] is True
    assert previews["bad-first-unticked"] == (None, "no_answer_supervised")
    assert previews["no-decision-yet"][0][-1]["content"] == TOPICS["no-decision-yet"][1]  # a thumbs-down stays out


def _trained_text(html: str) -> str:
    return unescape("".join(re.findall(r'<span class="tok tok-loss">(.*?)</span>', html, re.S)))


def test_the_page_shows_no_loss_on_an_answer_judged_bad_without_a_rewrite(client, cases, annotator):
    session, first, flagged, item = cases["bad-no-rewrite"]
    review_item_claim_next(queue=item.queue, user=annotator)
    client.force_login(annotator)
    form = {
        "field-verdict": "bad",
        f"turn-{first.id}-train": "1",
        f"turn-{flagged.id}-train": "1",
        f"turn-{flagged.id}-edited": "Call items.sort(), it returns the sorted list.",
    }
    html = client.post(reverse("review:preview_loss", args=[item.id]), form).content.decode()
    assert "prices[::-1]" in _trained_text(html) and "sorted list" not in _trained_text(html)
    form["field-verdict"] = "acceptable"
    html = client.post(reverse("review:preview_loss", args=[item.id]), form).content.decode()
    assert "sorted list" in _trained_text(html)
    form[f"turn-{first.id}-train"] = ""
    form["field-verdict"] = "bad"
    html = client.post(reverse("review:preview_loss", args=[item.id]), form).content.decode()
    assert "No answer would be trained on" in html
