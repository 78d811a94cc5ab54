"""Kinds of review item and how each is judged.

An app that wants people to judge something registers a kind in its AppConfig.ready() and then
enqueues items with `flywheel.review.services.review_item_enqueue`:

    class LabelReview(ReviewKind):
        def apply(self, item, decision, user):
            label_correct(label_id=int(item.subject_id), task_type=decision["task_type"], ...)

    review_kind_register(LabelReview(
        name="label", title="Label review",
        fields=[ChoiceField("task_type", "Task type", task_type_choices()),
                ChoiceField("quality", "Quality", QUALITY_CHOICES)],
        turn_controls={"train"},
    ))

The annotator's page draws every kind the same way: the conversation turn by turn, the kind's
own partial (`template`, given `item`, `payload` and `extra` = `kind.context(item)`), one group
of buttons per `ChoiceField` (digit keys pick), and per-turn controls ("train": train on this
turn, "edit": rewrite an assistant answer, "continuity": does this user turn continue the topic).

A decision is a dict: one value per field, `turns` = {"<message id>": {"train": bool,
"edited": str, "continuity": bool}} for the turns the reviewer touched, and an optional `note`.
`validate` cleans it or raises ValueError with a message the reviewer can act on; `apply` runs
exactly once per item, inside the transaction that records the final decision (the single
reviewer's, the agreed one, or the adjudicator's), so if it raises nothing is recorded.
Agreement between reviewers is measured per field and per turn control (`agreement_units`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from flywheel.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from flywheel.review.models import ReviewItem

TURN_CONTROLS = frozenset({"train", "edit", "continuity"})
GENERIC_TEMPLATE = "review/kinds/_generic.html"
NOTE_MAX_CHARS = 5_000
EDIT_MAX_CHARS = 100_000


@dataclass(frozen=True)
class ChoiceField:
    """One question with fixed answers; the page shows buttons and digits 1..9 pick them."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...]
    """(value, label) pairs, at most 9 so every answer has a digit key."""
    required: bool = True

    def __post_init__(self):
        # Labels stay as given: a lazily translated label is read in the page's language.
        object.__setattr__(self, "choices", tuple((str(v), lbl) for v, lbl in self.choices))
        if not self.choices:
            raise ValueError(f"field {self.name!r} has no choices")
        if len(self.choices) > 9:
            raise ValueError(f"field {self.name!r} has {len(self.choices)} choices; digit keys allow at most 9")

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _label in self.choices)


class ReviewKind:
    """Subclass and override `apply` (and `validate`, `context` if needed), or instantiate
    directly for a kind whose decisions are only read by others (selectors.review_decisions_final)."""

    def __init__(
        self,
        *,
        name: str,
        title: str,
        template: str = GENERIC_TEMPLATE,
        fields: Iterable[ChoiceField] = (),
        turn_controls: Iterable[str] = (),
        default_reviewers: int = 1,
        default_audience: str = "reviewers",
        description: str = "",
    ):
        self.name = name
        self.title = title
        self.template = template
        self.fields = tuple(fields)
        self.turn_controls = frozenset(turn_controls)
        unknown = self.turn_controls - TURN_CONTROLS
        if unknown:
            raise ValueError(f"unknown turn controls {sorted(unknown)}; use {sorted(TURN_CONTROLS)}")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names) or {"turns", "note"} & set(names):
            raise ValueError(f"field names must be unique and not 'turns' or 'note': {names}")
        self.default_reviewers = default_reviewers
        self.default_audience = default_audience
        self.description = description

    # --- hooks an app overrides -------------------------------------------------------------

    def validate(self, decision: dict) -> dict:
        """The cleaned decision, or ValueError with a message for the reviewer."""
        if not isinstance(decision, dict):
            raise ValueError(_("a decision must be an object"))
        cleaned: dict[str, Any] = {}
        for field in self.fields:
            value = decision.get(field.name)
            if value in (None, ""):
                if field.required:
                    raise ValueError(_("choose a value for “%(field)s”") % {"field": field.label})
                continue
            value = str(value)
            if value not in field.values:
                raise ValueError(
                    _("“%(value)s” is not a choice for “%(field)s” (choose one of %(choices)s)")
                    % {"value": value, "field": field.label, "choices": ", ".join(field.values)}
                )
            cleaned[field.name] = value
        turns = self.validate_turns(decision.get("turns") or {})
        if turns:
            cleaned["turns"] = turns
        note = decision.get("note") or ""
        if not isinstance(note, str):
            raise ValueError(_("the note must be text"))
        if len(note) > NOTE_MAX_CHARS:
            raise ValueError(_("the note is longer than %(max)s characters") % {"max": NOTE_MAX_CHARS})
        if note.strip():
            cleaned["note"] = note.strip()
        return cleaned

    def apply(self, item: ReviewItem, decision: dict, user) -> None:
        """Act on the final decision (write a corrected label, mark a pair...). Default: nothing;
        the decision stays readable on the item."""

    def context(self, item: ReviewItem) -> dict:
        """Extra template context for `template` (as `extra`)."""
        return {}

    # --- used by the framework; adjudication overrides them to borrow the parent's kind ------

    def fields_for(self, item: ReviewItem) -> tuple[ChoiceField, ...]:
        return self.fields

    def turn_controls_for(self, item: ReviewItem) -> frozenset[str]:
        return self.turn_controls

    def validate_for(self, item: ReviewItem, decision: dict) -> dict:
        return self.validate(decision)

    def apply_final(self, item: ReviewItem, decision: dict, user) -> None:
        self.apply(item, decision, user)

    def agreement_units(self, item: ReviewItem, decision: dict) -> dict[tuple[str, str], str]:
        """{(field, unit): value}: what two reviewers of one item can agree on. A field is one
        unit per item; a turn control is one unit per turn (edits are free text: not compared)."""
        units = {}
        for field in self.fields_for(item):
            if field.name in decision:
                units[(field.name, "")] = str(decision[field.name])
        for message_id, turn in (decision.get("turns") or {}).items():
            for control in ("train", "continuity"):
                if control in turn:
                    units[(control, str(message_id))] = "yes" if turn[control] else "no"
        return units

    def validate_turns(self, turns: Any) -> dict:
        if not isinstance(turns, dict):
            raise ValueError(_("turns must be an object keyed by message id"))
        cleaned = {}
        for key, turn in turns.items():
            if not str(key).isdigit():
                raise ValueError(_("turn key %(key)r is not a message id") % {"key": key})
            if not isinstance(turn, dict):
                raise ValueError(_("turn %(turn)s: expected an object") % {"turn": key})
            out = {}
            for control, value in turn.items():
                if control == "train" and "train" in self.turn_controls:
                    if not isinstance(value, bool):
                        raise ValueError(_("turn %(turn)s: train must be true or false") % {"turn": key})
                    out["train"] = value
                elif control == "continuity" and "continuity" in self.turn_controls:
                    if not isinstance(value, bool):
                        raise ValueError(_("turn %(turn)s: continuity must be yes or no") % {"turn": key})
                    out["continuity"] = value
                elif control == "edited" and "edit" in self.turn_controls:
                    if not isinstance(value, str):
                        raise ValueError(_("turn %(turn)s: the edited answer must be text") % {"turn": key})
                    if len(value) > EDIT_MAX_CHARS:
                        raise ValueError(
                            _("turn %(turn)s: the edited answer is longer than %(max)s characters")
                            % {"turn": key, "max": EDIT_MAX_CHARS}
                        )
                    if not value.strip():
                        raise ValueError(_("turn %(turn)s: the edited answer is empty") % {"turn": key})
                    out["edited"] = value
                else:
                    raise ValueError(
                        _("turn %(turn)s: %(control)r is not something this kind of review records")
                        % {"turn": key, "control": control}
                    )
            if out:
                cleaned[str(int(key))] = out
        return cleaned

    def __repr__(self) -> str:
        return f"<ReviewKind {self.name}>"


_KINDS: Registry[ReviewKind] = Registry("review kind")


def review_kind_register(kind: ReviewKind) -> ReviewKind:
    """Register a kind under its name; the app that registers it owns it (one owner per name)."""
    return _KINDS.add(kind.name, kind)


def review_kind_get(name: str) -> ReviewKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"unknown review kind {name!r}; registered: {', '.join(sorted(_KINDS)) or 'none'}") from None


def review_kinds() -> list[ReviewKind]:
    return sorted(_KINDS.values(), key=lambda k: k.name)
