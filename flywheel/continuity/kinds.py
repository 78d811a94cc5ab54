"""The "continuity" review kind: a reviewer says, for the user turns the classifier was unsure
about, whether each continues the session's topic. Answers become training labels and override
the classifier when sessions are cut into segments."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from flywheel.continuity.services import continuity_human_record
from flywheel.ingest.models import Message
from flywheel.review.kinds import ReviewKind, review_kind_register


class ContinuityReviewKind(ReviewKind):
    def validate(self, decision: dict) -> dict:
        cleaned = super().validate(decision)
        if not any("continuity" in turn for turn in (cleaned.get("turns") or {}).values()):
            raise ValueError(gettext("mark at least one user turn: does it continue the topic, yes or no?"))
        return cleaned

    def context(self, item) -> dict:
        probabilities = {int(k): v for k, v in (item.payload.get("probabilities") or {}).items()}
        # Reviewers know turns by their number in the transcript, not by database ids.
        seqs = dict(Message.objects.filter(id__in=list(probabilities)).values_list("id", "seq"))
        return {
            "asked": [int(i) for i in item.payload.get("message_ids", [])],
            "probabilities": probabilities,
            "unsure_turns": sorted(
                ({"message_id": mid, "turn": seqs.get(mid), "p": p} for mid, p in probabilities.items()),
                key=lambda turn: (turn["turn"] is None, turn["turn"] or 0),
            ),
        }

    def apply(self, item, decision, user) -> None:
        answers = {
            int(mid): bool(turn["continuity"])
            for mid, turn in (decision.get("turns") or {}).items()
            if "continuity" in turn
        }
        continuity_human_record(answers=answers, user=user, review_item_id=item.id)


def register_continuity_kind() -> None:
    review_kind_register(
        ContinuityReviewKind(
            name="continuity",
            title=_("Topic continuity"),
            template="continuity/kinds/_continuity.html",
            turn_controls={"continuity"},
            description=_(
                "For each highlighted user turn: does it continue the conversation's topic (yes), or start "
                "a new one that does not need the earlier turns (no)?"
            ),
        )
    )
