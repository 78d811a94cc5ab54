"""The blind A/B review kind: a reviewer compares two answers to an evaluation item, shown as
"first" and "second" in an order drawn on the server, and scores each per dimension. Which model
gave which answer is kept in HumanComparison and never reaches the page."""

from __future__ import annotations

from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from flywheel.evaluation.models import CandidateAnswer, HumanComparison
from flywheel.evaluation.scoring import DIMENSIONS
from flywheel.review.kinds import ChoiceField, ReviewKind

SUBJECT_TYPE = "eval_comparison"
# Five levels on the judge's 1-10 scale (review fields take at most nine choices, one digit key each).
_SCORES = (("2", _("2 poor")), ("4", _("4 weak")), ("6", _("6 fair")), ("8", _("8 good")), ("10", _("10 excellent")))

_SIDES = {"first": _("First answer"), "second": _("Second answer")}
_DIMENSION_NAMES = {
    "helpfulness": _("helpfulness"),
    "honesty": _("honesty"),
    "harmlessness": _("harmlessness"),
    "instruction_following": _("instruction following"),
}


def _fields() -> list[ChoiceField]:
    fields = [
        ChoiceField(
            "preferred",
            _("Which answer is better?"),
            (("first", _("the first")), ("second", _("the second")), ("tie", _("equally good"))),
        )
    ]
    for side in ("first", "second"):
        for dimension in DIMENSIONS:
            dimension_name = _DIMENSION_NAMES.get(dimension, dimension.replace("_", " "))
            label = format_lazy(_("{side}: {dimension}"), side=_SIDES[side], dimension=dimension_name)
            fields.append(ChoiceField(f"{side}_{dimension}", label, _SCORES))
    return fields


class BlindABKind(ReviewKind):
    def _comparison(self, item):
        return (
            HumanComparison.objects.select_related("evaluation", "item").filter(id=int(item.subject_id)).first()
            if item.subject_id.isdigit()
            else None
        )

    def context(self, item) -> dict:
        comparison = self._comparison(item)
        if comparison is None:
            return {"comparison": None}
        # Here, not at the top: services imports this module's constants (BLIND_AB, SUBJECT_TYPE).
        from flywheel.evaluation.services import candidate_parse_key

        answers = {}
        for side, spec in (
            ("candidate", comparison.evaluation.candidate),
            ("baseline", comparison.evaluation.baseline),
        ):
            answer = CandidateAnswer.objects.filter(
                item=comparison.item, candidate_key=candidate_parse_key(spec)
            ).first()
            answers[side] = answer.answer if answer else ""
        first, second = ("candidate", "baseline") if comparison.candidate_first else ("baseline", "candidate")
        return {
            "comparison": True,
            "messages": comparison.item.messages,
            "reference": comparison.item.reference,
            "first": answers[first],
            "second": answers[second],
        }

    def apply(self, item, decision, user) -> None:
        comparison = self._comparison(item)
        if comparison is None:
            return
        first, second = ("candidate", "baseline") if comparison.candidate_first else ("baseline", "candidate")
        winner = {"first": first, "second": second, "tie": "tie"}[decision["preferred"]]
        scores = {
            side: {dimension: int(decision[f"{shown}_{dimension}"]) for dimension in DIMENSIONS}
            for shown, side in (("first", first), ("second", second))
        }
        HumanComparison.objects.filter(id=comparison.id).update(
            winner=winner, scores=scores, decided_by=user, decided_at=timezone.now()
        )


BLIND_AB = BlindABKind(
    name="eval_blind_ab",
    title=_("Blind A/B evaluation"),
    template="evaluation/_blind_ab.html",
    fields=_fields(),
    description=_(
        "Which answer is better, and how good is each on every "
        "dimension? You are not told which model wrote which answer."
    ),
)
