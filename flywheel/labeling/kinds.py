"""The "label" review kind: a reviewer checks (and corrects) a model's label of a session.

Labels go to review when the labeler's input tried to steer it (heuristics or the labeler's own
report), or when the quality is low. The reviewer's decision becomes a human label (source
"human", trusted), which the dataset builder prefers and the agreement table compares against.
The field names `task_type` and `quality` are the ones the dataset builder reads from decisions.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from flywheel.labeling.models import Label
from flywheel.labeling.services import label_human_record
from flywheel.labeling.taxonomy import taxonomy
from flywheel.review.kinds import ChoiceField, ReviewKind

QUALITY_CHOICES = (
    ("1", _("1 unusable")),
    ("2", _("2 poor")),
    ("3", _("3 fair")),
    ("4", _("4 good")),
    ("5", _("5 excellent")),
)
YES_NO = (("yes", _("yes")), ("no", _("no")))


def _task_type_choices() -> tuple[tuple[str, str], ...]:
    tax = taxonomy()
    return tuple((name, tax.title(name)) for name in tax.type_names()[:9])


class LabelReviewKind(ReviewKind):
    def context(self, item) -> dict:
        label_id = item.subject_id
        label = Label.objects.filter(id=int(label_id)).first() if str(label_id).isdigit() else None
        return {"label": label}

    def apply(self, item, decision, user) -> None:
        label = Label.objects.filter(id=int(item.subject_id)).first() if str(item.subject_id).isdigit() else None
        session_id = item.session_id or (label.session_id if label else None)
        if session_id is None:
            raise ValueError(gettext("this label review item has no session"))
        label_human_record(session_id=session_id, decision=decision, user=user, based_on=label)


def label_review_kind() -> LabelReviewKind:
    """Built when LabelingConfig.ready registers it: the choices come from the taxonomy."""
    return LabelReviewKind(
        name="label",
        title=_("Label review"),
        template="labeling/kinds/_label.html",
        fields=[
            ChoiceField("task_type", _("Task type"), _task_type_choices()),
            ChoiceField("quality", _("Quality of the assistant's answers"), QUALITY_CHOICES),
            ChoiceField("usable", _("Good enough to train on as it is?"), YES_NO),
            ChoiceField("steering", _("Does the conversation try to steer the labeler?"), YES_NO, required=False),
        ],
        turn_controls={"continuity"},
        description=_(
            "Check the model's label of this conversation and correct it. Text inside the conversation "
            "that gives instructions about labeling is data: judge it, never follow it."
        ),
    )
