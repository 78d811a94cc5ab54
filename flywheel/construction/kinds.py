"""The review kinds construction owns (registered in ConstructionConfig.ready).

- constructed_answer: a Best-of-N answer to a bad case. Accept, edit (the edit box of the answer
  under review, which the page fills with the constructed answer) or reject.
- constructed_pair: a judged chosen/rejected pair. Keep as marked (optionally editing the chosen
  answer), keep the other way round, or reject (tie, both bad).
- synthetic_sample: a synthetic conversation. Accept or reject.
- badcase_answer: an answer a user gave a thumbs-down (routed by construction/routing.py). The
  reviewer judges it (verdict, task type, quality), rewrites it, picks the turns to train on; the
  decision also feeds mining: a "bad"/"harmful" verdict adds a reason and the reviewer's rewrite
  becomes the judge's reference answer; "acceptable" dismisses the bad case.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from flywheel.construction.models import ConstructedPair, SftAnswer, SyntheticSample
from flywheel.construction.selection import normalize_text
from flywheel.construction.services import badcase_review_verdict_record, pair_review_apply, sft_answer_review_apply
from flywheel.construction.synthesis import synthetic_review_apply
from flywheel.review.builtin_kinds import quality_field, task_type_field
from flywheel.review.kinds import ChoiceField, ReviewKind
from flywheel.review.privacy import review_texts_shown


def _edits_only_on_subject(item, cleaned: dict, *, prefilled: str | None) -> dict:
    """Edits are allowed on the answer under review only; an edit box left as the page filled
    it (the constructed text) is no edit."""
    turns = dict(cleaned.get("turns") or {})
    for key in list(turns):
        if str(key) != str(item.message_id) and "edited" in turns[key]:
            raise ValueError(gettext("only the answer under review can be edited here"))
        edited = turns[key].get("edited")
        if edited is not None and prefilled is not None and normalize_text(edited) == normalize_text(prefilled):
            turns[key] = {k: v for k, v in turns[key].items() if k != "edited"}
            if not turns[key]:
                del turns[key]
    if turns:
        cleaned["turns"] = turns
    else:
        cleaned.pop("turns", None)
    return cleaned


def _prefill(item, text: str) -> dict:
    """What static/js/construction.js puts in the edit box of the answer under review: the
    constructed text, in place of the original answer (and only in place of it)."""
    # The page shows the scrubbed answer (what the dataset holds), so that is what the script
    # matches and replaces; the raw answer never reaches an annotator's page source.
    original = review_texts_shown(message_ids=[item.message_id]).get(item.message_id, "") if item.message_id else ""
    return {"message_id": item.message_id, "text": text, "original": original}


def _has_edit(cleaned: dict) -> bool:
    return any("edited" in turn for turn in (cleaned.get("turns") or {}).values())


class ConstructedAnswerKind(ReviewKind):
    def _sft(self, item) -> SftAnswer | None:
        return (
            SftAnswer.objects.select_related("candidate", "bad_case").filter(id=int(item.subject_id)).first()
            if item.subject_id.isdigit()
            else None
        )

    def validate_for(self, item, decision):
        sft = self._sft(item)
        cleaned = _edits_only_on_subject(item, self.validate(decision), prefilled=sft.candidate.text if sft else None)
        if cleaned.get("verdict") == "reject" and _has_edit(cleaned):
            raise ValueError(
                gettext("you edited the answer but chose reject: choose accept to keep your edit, or undo it")
            )
        return cleaned

    def apply(self, item, decision, user):
        sft_answer_review_apply(
            sft_answer_id=int(item.subject_id), decision=decision, user=user, message_id=item.message_id
        )

    def context(self, item):
        sft = self._sft(item)
        return {"sft": sft, "prefill": _prefill(item, sft.candidate.text) if sft else None}


class ConstructedPairKind(ReviewKind):
    def _pair(self, item) -> ConstructedPair | None:
        return (
            ConstructedPair.objects.select_related("chosen", "rejected").filter(id=int(item.subject_id)).first()
            if item.subject_id.isdigit()
            else None
        )

    def validate_for(self, item, decision):
        pair = self._pair(item)
        cleaned = _edits_only_on_subject(item, self.validate(decision), prefilled=pair.chosen.text if pair else None)
        if _has_edit(cleaned) and cleaned.get("preferred") != "chosen":
            raise ValueError(gettext("an edit changes the marked “chosen” answer: prefer it, or undo the edit"))
        return cleaned

    def apply(self, item, decision, user):
        pair_review_apply(pair_id=int(item.subject_id), decision=decision, user=user, message_id=item.message_id)

    def context(self, item):
        pair = self._pair(item)
        return {"pair": pair, "prefill": _prefill(item, pair.chosen.text) if pair else None}


class SyntheticSampleKind(ReviewKind):
    def apply(self, item, decision, user):
        synthetic_review_apply(sample_id=int(item.subject_id), accepted=decision.get("verdict") == "accept", user=user)

    def context(self, item):
        sample = (
            SyntheticSample.objects.defer("embedding").filter(id=int(item.subject_id)).first()
            if item.subject_id.isdigit()
            else None
        )
        return {"sample": sample}


CONSTRUCTED_ANSWER = ConstructedAnswerKind(
    name="constructed_answer",
    title=_("Constructed answers"),
    template="construction/kinds/_constructed_answer.html",
    fields=[
        ChoiceField(
            "verdict", _("The constructed answer"), (("accept", _("accept: train on it")), ("reject", _("reject")))
        )
    ],
    turn_controls={"edit"},
    description=_(
        "A better answer built for a bad case (best of several, chosen by a judge). Accept it, edit it "
        "in the answer under review, or reject it."
    ),
)
CONSTRUCTED_PAIR = ConstructedPairKind(
    name="constructed_pair",
    title=_("Constructed preference pairs"),
    template="construction/kinds/_constructed_pair.html",
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
    turn_controls={"edit"},
    description=_("Two answers a judge ranked with a clear margin. Check the chosen one really is better."),
)
SYNTHETIC_SAMPLE = SyntheticSampleKind(
    name="synthetic_sample",
    title=_("Synthetic samples"),
    template="construction/kinds/_synthetic_sample.html",
    fields=[
        ChoiceField(
            "verdict", _("This synthetic conversation"), (("accept", _("accept: train on it")), ("reject", _("reject")))
        )
    ],
    description=_("A made-up prompt and its answer, made to widen coverage. Accept only realistic, correct ones."),
)


class BadcaseAnswerKind(ReviewKind):
    def apply(self, item, decision, user):
        if item.message_id and item.subject_type == "message":
            edited = ((decision.get("turns") or {}).get(str(item.message_id)) or {}).get("edited")
            badcase_review_verdict_record(
                message_id=item.message_id,
                verdict=str(decision.get("verdict", "")),
                edited=edited,
                review_item_id=item.id,
            )


BADCASE_ANSWER = BadcaseAnswerKind(
    name="badcase_answer",
    title=_("Bad-case answers"),
    template="construction/kinds/_badcase_answer.html",
    fields=[
        ChoiceField(
            "verdict",
            _("The flagged answer is"),
            (("bad", _("bad")), ("acceptable", _("acceptable")), ("harmful", _("harmful"))),
        ),
        task_type_field(),
        quality_field(),
    ],
    turn_controls={"train", "edit", "continuity"},
    description=_("Answers users gave a thumbs-down: judge them, rewrite them, choose the turns to train on."),
)
