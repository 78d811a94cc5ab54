"""The kinds the review framework brings: preference pairs and adjudication of disagreements
(registered in ReviewConfig.ready), and the task-type and quality fields other apps' kinds share.
Every other kind belongs to the app that fills it: "label" (labeling), "continuity"
(continuity), "badcase_answer" and the constructed samples (construction)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from flywheel.ingest.models import PreferencePair
from flywheel.labeling.taxonomy import taxonomy
from flywheel.review.kinds import ChoiceField, ReviewKind, review_kind_get
from flywheel.review.models import ReviewItem
from flywheel.review.privacy import review_texts_shown, scrubbed_for_display
from flywheel.review.services import ReviewError, review_item_decide
from flywheel.ui.templatetags.flywheel_ui import status_name

QUALITY_CHOICES = (
    ("1", _("1 unusable")),
    ("2", _("2 poor")),
    ("3", _("3 fair")),
    ("4", _("4 good")),
    ("5", _("5 excellent")),
)


def review_task_types() -> list[str]:
    """The task types offered on the annotator's page (at most 9: one digit key each):
    FLYWHEEL_REVIEW_TASK_TYPES, or the labeling taxonomy's top-level types, so a reviewer's
    correction and a label put the same kind of data in the same loss channel."""
    return settings.FLYWHEEL_REVIEW_TASK_TYPES or taxonomy().type_names()


def task_type_field() -> ChoiceField:
    return ChoiceField("task_type", _("Task type"), tuple((t, t) for t in review_task_types()))


def quality_field() -> ChoiceField:
    return ChoiceField("quality", _("Quality of the conversation's answers"), QUALITY_CHOICES)


class PreferencePairKind(ReviewKind):
    def context(self, item: ReviewItem) -> dict:
        pair = (
            PreferencePair.objects.select_related("chosen", "rejected").filter(id=int(item.subject_id)).first()
            if item.subject_id.isdigit()
            else None
        )
        if pair is None:
            return {"pair": None}
        # The scrubbed texts the dataset holds (None: hidden), never the stored originals.
        shown = review_texts_shown(message_ids=[pair.chosen_id, pair.rejected_id])
        return {"pair": pair, "chosen_text": shown.get(pair.chosen_id), "rejected_text": shown.get(pair.rejected_id)}


PREFERENCE_PAIR = PreferencePairKind(
    name="preference_pair",
    title=_("Preference pairs"),
    template="review/kinds/_preference_pair.html",
    fields=[
        ChoiceField(
            "preferred",
            _("Which answer is better?"),
            (
                ("chosen", _("the marked “chosen” one")),
                ("rejected", _("the marked “rejected” one")),
                ("tie", _("equally good")),
                ("both_bad", _("both are bad")),
            ),
        )
    ],
    description=_("Check that the chosen answer of a pair really is the better one."),
)


class AdjudicationKind(ReviewKind):
    """Decides an item whose reviewers disagreed, with the fields of the item's own kind; the
    adjudicator's decision is final and is what that kind's `apply` receives."""

    def parent_kind(self, item: ReviewItem) -> ReviewKind:
        return review_kind_get(item.parent.kind)

    def fields_for(self, item):
        return self.parent_kind(item).fields_for(item.parent)

    def turn_controls_for(self, item):
        return self.parent_kind(item).turn_controls_for(item.parent)

    def validate_for(self, item, decision):
        return self.parent_kind(item).validate_for(item.parent, decision)

    def agreement_units(self, item, decision):
        return self.parent_kind(item).agreement_units(item.parent, decision)

    def apply_final(self, item, decision, user):
        parent = ReviewItem.objects.select_for_update().get(id=item.parent_id)
        if parent.status != ReviewItem.Status.ADJUDICATING:
            raise ReviewError(
                gettext("the disputed item is %(status)s, not waiting for adjudication")
                % {"status": status_name(parent.status)}
            )
        review_item_decide(item=parent, decision=decision, user=user)

    def context(self, item):
        parent_kind = self.parent_kind(item)
        decisions = [
            {**entry, "decision": scrubbed_for_display(entry.get("decision"))}
            for entry in item.payload.get("decisions", [])
            if isinstance(entry, dict)
        ]
        return {
            "parent": item.parent,
            "parent_kind": parent_kind,
            "parent_extra": parent_kind.context(item.parent),
            "parent_payload": scrubbed_for_display(item.parent.payload),
            "decisions": decisions,
            "disagreements": item.payload.get("disagreements", []),
        }


ADJUDICATION = AdjudicationKind(
    name="adjudication",
    title=_("Adjudication"),
    template="review/kinds/_adjudication.html",
    default_audience="engineers",
    description=_("Items whose reviewers disagreed: the decision made here is final."),
)
