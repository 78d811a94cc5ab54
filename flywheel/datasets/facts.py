"""What other apps know about sessions, gathered for the builder in one query per kind per batch:
labels (task type, quality, trusted), review decisions, and where the topic changes.

Precedence for a session's task type and quality: a reviewer's final decision, then the
labeling app's label. Topic changes: a reviewer's "does not continue the topic" on a user
turn, then the continuity app's split points.

The apps that know these facts hand them over in their AppConfig.ready():

    session_labels_register("labeling", labels_for_sessions)
        # (*, session_ids) -> {session_id: {"task_type", "quality", "trusted", "usable", "version"}}
    topic_switches_register("continuity", topic_switches_for_sessions)
        # (*, session_ids) -> {session_id: [ids of the user turns that start a new topic]}

With none registered, that fact is unknown: samples come out "unlabeled", sessions whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flywheel.registry import Registry
from flywheel.review.models import ReviewItem

BAD_VERDICTS = ("bad", "harmful")
GOOD_VERDICTS = ("acceptable",)

LabelsForSessions = Callable[..., dict[int, dict]]
SwitchesForSessions = Callable[..., dict[int, list[int]]]
_LABELS: Registry[LabelsForSessions] = Registry("session labels source")
_SWITCHES: Registry[SwitchesForSessions] = Registry("topic switches source")


def session_labels_register(name: str, func: LabelsForSessions) -> LabelsForSessions:
    if _LABELS:
        # Two labelers would need a rule for which one wins; there is none.
        raise ValueError(f"session labels come from {next(iter(_LABELS))!r} already; {name!r} cannot add more")
    return _LABELS.add(name, func)


def topic_switches_register(name: str, func: SwitchesForSessions) -> SwitchesForSessions:
    """Split points from every registered source are combined."""
    return _SWITCHES.add(name, func)


def session_labels(*, session_ids: list[int]) -> dict[int, dict]:
    """The registered labeler's label of each session (empty with no labeler), as it hands them
    over; the review pages pre-fill task type and quality from them."""
    out: dict[int, dict] = {}
    for labels in _LABELS.values():
        out.update({session_id: label for session_id, label in labels(session_ids=session_ids).items() if label})
    return out


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


def _quality(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= 5 else None


def session_facts(*, session_ids: list[int]) -> dict[int, SessionFacts]:
    facts = {session_id: SessionFacts() for session_id in session_ids}
    for labels in _LABELS.values():
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
    decided = (
        ReviewItem.objects.filter(session_id__in=session_ids, status=ReviewItem.Status.DONE)
        .exclude(kind="adjudication")
        .order_by("decided_at", "id")
        .values_list("id", "session_id", "message_id", "final_decision")
    )
    for item_id, session_id, message_id, decision in decided:
        entry = facts[session_id]
        entry.reviewed = True
        entry.review_item_ids.append(item_id)
        decision_facts_apply(entry, message_id=message_id, decision=decision)
    return facts


def decision_facts_apply(entry: SessionFacts, *, message_id: int | None, decision: dict | None) -> None:
    """What one final review decision (about the answer `message_id`, if any) says about its
    session, applied on top of the earlier ones: a person's word beats a model's label, and a
    later decision beats an earlier one. Also used by the review page's loss preview, for the
    decision being made (flywheel/datasets/supervision.py)."""
    decision = decision or {}
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


def topic_switches(
    *, session_ids: list[int], reviewer_continuity: dict[int, bool], message_sessions: dict[int, int]
) -> dict[int, set[int]]:
    """{session id: ids of the user messages that start a new topic}. `reviewer_continuity`
    ({message id: continues the topic?}, from review decisions) overrides the continuity app."""
    switches: dict[int, set[int]] = {session_id: set() for session_id in session_ids}
    for predicted in _SWITCHES.values():
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
