"""Parsing what the pages post: the annotator's decision form and the queue form."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from flywheel.ingest.models import Message
from flywheel.review.kinds import ReviewKind, review_kinds
from flywheel.review.models import ReviewItem, ReviewQueue
from flywheel.review.services import queue_filters_clean


def _text(value: str) -> str:
    # Browsers post textarea line breaks as CRLF; the original answers use LF.
    return value.replace("\r\n", "\n")


def decision_from_post(
    *, item: ReviewItem, kind: ReviewKind, post, messages: list[Message], shown: dict[int, str]
) -> dict:
    """The decision as the kind validates it. Untouched answers are not "edited": an edit box
    starts from the text the page `shown` (the scrubbed one), so that is what an edit is compared
    with; a hidden answer had no box and takes no edit. Every assistant turn's train flag is
    recorded (the page shows them all, ticked by default)."""
    decision: dict = {}
    for field in kind.fields_for(item):
        value = post.get(f"field-{field.name}", "")
        if value:
            decision[field.name] = value
    controls = kind.turn_controls_for(item)
    turns: dict[str, dict] = {}
    for message in messages:
        turn: dict = {}
        if message.role == Message.Role.ASSISTANT:
            if "train" in controls:
                turn["train"] = post.get(f"turn-{message.id}-train") == "1"
            edited = post.get(f"turn-{message.id}-edited")
            start = shown.get(message.id)
            if (
                "edit" in controls
                and edited is not None
                and start is not None
                and _text(edited).strip() != start.strip()
            ):
                turn["edited"] = _text(edited)
        if message.role == Message.Role.USER and "continuity" in controls:
            answer = post.get(f"turn-{message.id}-continuity", "")
            if answer in ("yes", "no"):
                turn["continuity"] = answer == "yes"
        if turn:
            turns[str(message.id)] = turn
    if turns:
        decision["turns"] = turns
    note = post.get("note", "")
    if note.strip():
        decision["note"] = _text(note)
    return decision


def decision_form_values(decision: dict) -> dict:
    """A recorded decision as the item page's form posts it, to fill the form in again (after
    an undo the reviewer finds their answers where they left them)."""
    values = {f"field-{name}": str(value) for name, value in decision.items() if name not in ("turns", "note")}
    for message_id, turn in (decision.get("turns") or {}).items():
        if turn.get("train"):
            values[f"turn-{message_id}-train"] = "1"
        if "edited" in turn:
            values[f"turn-{message_id}-edited"] = turn["edited"]
        if "continuity" in turn:
            values[f"turn-{message_id}-continuity"] = "yes" if turn["continuity"] else "no"
    values["note"] = decision.get("note", "")
    return values


class QueueForm(forms.ModelForm):
    filters_json = forms.CharField(
        label=_("Filters (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            'Routes matching items of this kind here, e.g. {"app": "support-bot", "payload": {"language": "zh"}}.'
        ),
    )

    class Meta:
        model = ReviewQueue
        fields = [
            "name",
            "slug",
            "kind",
            "description",
            "priority",
            "reviewers_per_item",
            "lease_seconds",
            "audience",
            "active",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"] = forms.ChoiceField(choices=[(k.name, f"{k.title} ({k.name})") for k in review_kinds()])
        self.fields["reviewers_per_item"].validators.append(_between(1, 10))
        self.fields["lease_seconds"].validators.append(_between(10, 7 * 24 * 3600))
        if self.instance.pk:
            self.fields["filters_json"].initial = json.dumps(self.instance.filters, ensure_ascii=False)

    def clean_filters_json(self) -> dict:
        raw = (self.cleaned_data.get("filters_json") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("not valid JSON: %(error)s (line %(line)s, column %(column)s)")
                % {"error": exc.msg, "line": exc.lineno, "column": exc.colno}
            ) from exc
        try:
            return queue_filters_clean(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


def _between(low: int, high: int):
    def check(value):
        if value is not None and not low <= value <= high:
            raise forms.ValidationError(_("must be between %(low)s and %(high)s") % {"low": low, "high": high})

    return check
