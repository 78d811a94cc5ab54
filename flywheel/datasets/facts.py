"""What other apps know about sessions, gathered for the builder in one query per kind per batch:
labels (task type, quality, trusted), review decisions, and where the topic changes.

Precedence for a session's task type and quality: a reviewer's final decision, then the
labeling app's label. Topic changes: a reviewer's "does not continue the topic" on a user
turn, then the continuity app's split points.

The labeling and continuity apps are optional here: each is asked through one selector (see
LABELS_SELECTOR and SWITCHES_SELECTOR); when an app does not provide it, that fact is simply
unknown (samples come out "unlabeled", sessions whole) and the build report says so.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from flywheel.review.models import ReviewItem

# flywheel.labeling.selectors.<name>(*, session_ids) -> {session_id: {"task_type", "quality",
# "trusted", "version"}} and flywheel.continuity.selectors.<name>(*, session_ids) ->
# {session_id: [message ids of the user turns that start a new topic]}.
LABELS_SELECTOR = ("flywheel.labeling.selectors", "labels_for_sessions")
SWITCHES_SELECTOR = ("flywheel.continuity.selectors", "topic_switches_for_sessions")
BAD_VERDICTS = ("bad", "harmful")
GOOD_VERDICTS = ("acceptable",)


@dataclass
class SessionFacts:
    task_type: str = ""
    quality: int | None = None
    trusted: bool = False
    usable: bool | None = None
    reviewed: bool = False
    review_item_ids: list[int] = field(default_factory=list)
    bad_message_ids: set[int] = field(default_factory=set)
    approved_message_ids: set[int] = field(default_factory=set)
    label_versions: list[str] = field(default_factory=list)


def _optional_selector(module_name: str, function_name: str):
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, function_name, None)


def labels_available() -> bool:
    return _optional_selector(*LABELS_SELECTOR) is not None


def switches_available() -> bool:
    return _optional_selector(*SWITCHES_SELECTOR) is not None


def _quality(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= 5 else None


def session_facts(*, session_ids: list[int]) -> dict[int, SessionFacts]:
    facts = {session_id: SessionFacts() for session_id in session_ids}
    labels = _optional_selector(*LABELS_SELECTOR)
    if labels is not None:
        for session_id, label in labels(session_ids=session_ids).items():
            entry = facts.get(session_id)
            if entry is None or not label:
                continue
            entry.task_type = str(label.get("task_type") or "")
            entry.quality = _quality(label.get("quality"))
            entry.trusted = bool(label.get("trusted"))
            entry.usable = label["usable"] if isinstance(label.get("usable"), bool) else None
            if label.get("version"):
                entry.label_versions.append(str(label["version"]))
    decided = (ReviewItem.objects.filter(session_id__in=session_ids, status=ReviewItem.Status.DONE)
               .exclude(kind="adjudication").order_by("decided_at", "id")
               .values_list("id", "session_id", "message_id", "final_decision"))
    for item_id, session_id, message_id, decision in decided:
        entry = facts[session_id]
        decision = decision or {}
        entry.reviewed = True
        entry.review_item_ids.append(item_id)
        # A person's word beats a model's label; a later decision beats an earlier one.
        if decision.get("task_type"):
            entry.task_type, entry.trusted = str(decision["task_type"]), True
        if _quality(decision.get("quality")) is not None:
            entry.quality, entry.trusted = _quality(decision["quality"]), True
        verdict = decision.get("verdict")
        if message_id is not None and verdict in BAD_VERDICTS:
            entry.bad_message_ids.add(message_id)
            entry.approved_message_ids.discard(message_id)
        elif message_id is not None and verdict in GOOD_VERDICTS:
            entry.approved_message_ids.add(message_id)
            entry.bad_message_ids.discard(message_id)
    return facts


def topic_switches(*, session_ids: list[int], reviewer_continuity: dict[int, bool],
                   message_sessions: dict[int, int]) -> dict[int, set[int]]:
    """{session id: ids of the user messages that start a new topic}. `reviewer_continuity`
    ({message id: continues the topic?}, from review decisions) overrides the continuity app."""
    switches: dict[int, set[int]] = {session_id: set() for session_id in session_ids}
    predicted = _optional_selector(*SWITCHES_SELECTOR)
    if predicted is not None:
        for session_id, message_ids in predicted(session_ids=session_ids).items():
            if session_id in switches:
                switches[session_id].update(int(i) for i in message_ids)
    for message_id, continues in reviewer_continuity.items():
        session_id = message_sessions.get(message_id)
        if session_id is None:
            continue
        if continues:
            switches[session_id].discard(message_id)
        else:
            switches[session_id].add(message_id)
    return switches
