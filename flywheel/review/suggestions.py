"""Suggested answers, pre-selected on the item page so that agreeing is one Enter.

Each suggestion names its source ("suggested by the offline labeler"), and the suggestions a
reviewer was shown are stored with their decision, so the agreement page can say how often
people kept them (a suggestion nobody changes may be rubber-stamped, not checked).

Where they come from, first one wins per answer:
  the item's own proposal  a payload value under a field's name (a label review item carries
                           the label's task type and quality; any kind may propose)
  the session's label      the labeler's task type, quality and "usable" verdict
                           (flywheel/datasets/facts.py)

  the topic model           a continuity item's `guesses` ({message id: continues?}), the model's
                           own call at its threshold, stored when the item was routed: reading
                           them loads no model (loading it on every item page and submission
                           was far too slow with 20 annotators)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from flywheel.datasets.facts import session_labels
from flywheel.review.kinds import review_kind_get
from flywheel.review.models import ReviewItem

LABEL_FIELDS = ("task_type", "quality", "usable")


def _label_value(label: dict, name: str):
    value = label.get(name)
    if name == "usable" and isinstance(value, bool):
        return "yes" if value else "no"  # a yes/no question about the label's verdict
    return value


@dataclass(frozen=True)
class Suggestion:
    value: str
    source: str
    """Who suggests it, as shown after "suggested by"."""


@dataclass
class Suggestions:
    fields: dict[str, Suggestion] = field(default_factory=dict)
    turns: dict[str, Suggestion] = field(default_factory=dict)
    """{message id: continuity suggestion, "yes" or "no"}."""

    def stored(self) -> dict:
        """What is kept with a decision: {"fields": {name: value}, "turns": {id: {"continuity": bool}}, "sources": ...}."""
        return {
            "fields": {name: s.value for name, s in self.fields.items()},
            "turns": {mid: {"continuity": s.value == "yes"} for mid, s in self.turns.items()},
            "sources": sorted({s.source for s in [*self.fields.values(), *self.turns.values()]}),
        }


def _labeler_name(label: dict) -> str:
    source = str(label.get("source") or "")
    names = {"offline": _("the offline labeler"), "llm": _("the LLM labeler"), "human": _("a reviewer's label")}
    return names.get(source, _("the labeler"))


def review_suggestions(*, item: ReviewItem) -> Suggestions:
    kind = review_kind_get(item.kind)
    choices = {f.name: f.values for f in kind.fields_for(item)}
    found = Suggestions()
    payload = item.payload if isinstance(item.payload, dict) else {}
    proposer = str(payload.get("model") or payload.get("source") or kind.title)
    if payload.get("source") in ("offline", "llm"):
        proposer = _labeler_name(payload)
    for name, values in choices.items():
        value = payload.get(name)
        if value is not None and str(value) in values:
            found.fields[name] = Suggestion(str(value), proposer)
    guesses = payload.get("guesses")
    if isinstance(guesses, dict):
        for message_id, continues in guesses.items():
            if isinstance(continues, bool):
                found.turns[str(message_id)] = Suggestion("yes" if continues else "no", _("the topic model"))
    if item.session_id is not None and set(LABEL_FIELDS) & (set(choices) - set(found.fields)):
        label = session_labels(session_ids=[item.session_id]).get(item.session_id)
        for name in LABEL_FIELDS:
            value = None if label is None else _label_value(label, name)
            if name in choices and name not in found.fields and value is not None and str(value) in choices[name]:
                found.fields[name] = Suggestion(str(value), _labeler_name(label))
    return found
