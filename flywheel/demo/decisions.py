"""Review decisions made by the demo annotators, so the demo loop reaches a dataset without a
person at the keyboard.

They go through the ordinary review services (claim, submit) as the demo users, and every one
carries DEMO_NOTE and is marked automatic, so nobody mistakes them for a person's judgement:
they count in no agreement or throughput figure and in nobody's "My day". What they decide comes
from what the demo generator knows it planted: a thumbs-down answer is rewritten with the
corpus's good answer for its question, a planted topic switch is marked as one, a label that
the conversation tried to steer is marked unusable. Any other kind gets the values its item
proposes (or the accepting choice).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model

from flywheel.demo.generator import generate_demo
from flywheel.ingest.models import Message
from flywheel.review.kinds import review_kind_get
from flywheel.review.models import ReviewItem, ReviewQueue
from flywheel.review.services import (
    ReviewError,
    review_item_claim_next,
    review_item_decline,
    review_item_release,
    review_item_submit,
)

DEMO_NOTE = "Demo decision, made automatically by `manage.py demo` — not a person's judgement."
DEMO_REVIEWERS = ("annotator", "annotator2", "engineer")
# Answers that mean "yes, use it" in the kinds apps register; the first one offered wins.
ACCEPTING = ("accept", "accepted", "chosen", "yes", "good", "correct", "keep")


class DemoKnowledge:
    """What the generator planted: the answer each bad answer should have been, and the user
    turns that switch topic (by external id)."""

    def __init__(self, *, seed: int, sessions: int):
        plan = generate_demo(seed=seed, sessions=sessions).plan
        self.better_answers: dict[str, dict] = plan.get("better_answers", {})
        self.switches = {message for messages in plan.get("topic_switches", {}).values() for message in messages}


def _choice(values: tuple[str, ...], wanted) -> str | None:
    wanted = None if wanted is None else str(wanted)
    return wanted if wanted in values else None


def _generic(item, choices: dict, knowledge: DemoKnowledge) -> dict:
    """The item's own proposal where it has one, else the accepting choice, for required fields."""
    decision = {"note": DEMO_NOTE}
    for field in choices.values():
        proposed = _choice(field.values, (item.payload or {}).get(field.name))
        if proposed is None and not field.required:
            continue
        decision[field.name] = proposed or next((v for v in ACCEPTING if v in field.values), field.values[0])
    return decision


def _badcase_answer(item, choices: dict, knowledge: DemoKnowledge) -> dict:
    answer = item.message
    planted = knowledge.better_answers.get(answer.external_id, {}) if answer else {}
    task_type, better = planted.get("task_type", "other"), planted.get("answer")
    task_types = choices["task_type"].values if "task_type" in choices else ()
    decision = {
        **_generic(item, choices, knowledge),
        "verdict": "bad",
        "quality": "2",
        "task_type": _choice(task_types, task_type) or (task_types[-1] if task_types else task_type),
    }
    if answer is not None:
        # With a better answer from the corpus the answer is rewritten and trained on; otherwise it stays out.
        decision["turns"] = {str(answer.id): {"edited": better, "train": True} if better else {"train": False}}
    return decision


def _label(item, choices: dict, knowledge: DemoKnowledge) -> dict:
    decision = _generic(item, choices, knowledge)
    steered = bool((item.payload or {}).get("signals")) or "injection" in str((item.payload or {}).get("reason", ""))
    if "usable" in choices:
        decision["usable"] = "no" if steered else "yes"
    if "steering" in choices:
        decision["steering"] = "yes" if steered else "no"
    return decision


def _continuity(item, choices: dict, knowledge: DemoKnowledge) -> dict:
    asked = [int(i) for i in (item.payload or {}).get("message_ids", []) if str(i).isdigit()]
    external = dict(Message.objects.filter(id__in=asked, role="user").values_list("id", "external_id"))
    decision = _generic(item, choices, knowledge)
    turns = {str(mid): {"continuity": external_id not in knowledge.switches} for mid, external_id in external.items()}
    if turns:
        decision["turns"] = turns
    return decision


DECIDERS: dict[str, Callable] = {"badcase_answer": _badcase_answer, "label": _label, "continuity": _continuity}


def _claim(queue, users):
    for user in users:
        try:
            claim = review_item_claim_next(queue=queue, user=user)
        except ReviewError:  # a queue for engineers: the annotators may not take from it
            continue
        if claim is not None:
            return claim
    return None


def _submit(item_id: int, user, decision: dict) -> bool:
    try:
        review_item_submit(item_id=item_id, user=user, decision=decision, automatic=True)
    except (ReviewError, ValueError):
        return False
    return True


def _decide_next(queue, users, knowledge: DemoKnowledge, left_open: set[int]) -> str | None:
    """Claim the queue's next item and decide it with as many demo reviewers as it needs (they
    agree); the kind decided, "" when the decision was refused, None when the queue is done
    (or its next item is one left open for people)."""
    claim = _claim(queue, users)
    if claim is None:
        return None
    item, first = claim.item, claim.assignment.reviewer
    if item.id in left_open:
        review_item_release(item_id=item.id, user=first)
        return None
    choices = {field.name: field for field in review_kind_get(item.kind).fields_for(item)}
    decision = DECIDERS.get(item.kind, _generic)(item, choices, knowledge)
    if not _submit(item.id, first, decision):
        review_item_decline(item_id=item.id, user=first)  # "not for me": never offered to this reviewer again
        return ""
    for user in users:
        item.refresh_from_db()
        if item.status != ReviewItem.Status.OPEN:
            break
        if user.id == first.id:
            continue
        try:
            other = review_item_claim_next(queue=queue, user=user)
        except ReviewError:
            continue
        if other is not None and other.item.id != item.id:
            review_item_release(item_id=other.item.id, user=user)
        elif other is not None:
            _submit(item.id, user, decision)
    return item.kind


def _left_for_people(queue, share: float) -> set[int]:
    """The last `share` of a queue's items in claim order: the demo leaves them for the people
    who log in to try the review pages. Counted over all items, whatever their status, so a
    second run leaves the same ones (and builds the same dataset)."""
    ids = list(ReviewItem.objects.filter(queue=queue).order_by("-priority", "id").values_list("id", flat=True))
    return set(ids[len(ids) - int(len(ids) * share) :])


def demo_review_decide(*, seed: int, sessions: int, per_queue: int = 500, leave_open: float = 0.1) -> dict[str, int]:
    """Decide the open items of every queue as the demo reviewers, except the last `leave_open`
    share of each, left for people to try. Items already decided are left alone, so a second
    run decides nothing new."""
    users = [u for u in (get_user_model().objects.filter(username=name).first() for name in DEMO_REVIEWERS) if u]
    knowledge = DemoKnowledge(seed=seed, sessions=sessions)
    decided: dict[str, int] = {}
    for queue in ReviewQueue.objects.filter(active=True).exclude(kind="adjudication").order_by("id"):
        left_open = _left_for_people(queue, leave_open)
        for _ in range(per_queue):
            kind = _decide_next(queue, users, knowledge, left_open)
            if kind is None:
                break
            if kind:
                decided[kind] = decided.get(kind, 0) + 1
    return decided
