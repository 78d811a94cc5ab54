"""Which answers of a logged conversation a dataset trains on, and with what text: the rules of
the session source, in one place, for the dataset builder and for the review page's loss
preview ("as the trainer will see this conversation"), so the two can never disagree.

An assistant answer gets a `mark` (see flywheel/datasets/sources.py) from, in this order:
  a reviewer's rewrite          "ticked" (trained on, with the scrubbed rewrite), unless untrained
  a reviewer's "do not train"   "unticked"
  a "bad"/"harmful" verdict     "bad": a bad answer is trained on only when rewritten
  a tick or "acceptable"        "ticked"
  a thumbs-down                 "bad"
`builder.supervised_messages` then turns marks into train flags for the build's supervision mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.cleaning.pii import scrub_text
from flywheel.cleaning.services import message_texts_for_llm
from flywheel.datasets.builder import supervised_messages
from flywheel.datasets.facts import SessionFacts, decision_facts_apply, session_facts
from flywheel.ingest.models import Feedback, Message
from flywheel.review.selectors import message_review_overrides


@dataclass
class PreparedMessages:
    messages: list[dict]
    """[{"id", "role", "content", "mark"}] in order, text scrubbed."""
    blocked: str = ""
    """"pii_scrub_failed" when a text could not be cleared: the whole conversation stays out."""
    edited_ids: list[int] = field(default_factory=list)


def assistant_mark(*, message_id: int, override: dict, facts: SessionFacts, thumbs_down: bool) -> str | None:
    if "edited" in override:
        return "unticked" if override.get("train") is False else "ticked"
    if override.get("train") is False:
        return "unticked"
    if message_id in facts.bad_message_ids:
        return "bad"  # a reviewer's verdict beats a tick: a bad answer is trained on only rewritten
    if override.get("train") is True or message_id in facts.approved_message_ids:
        return "ticked"
    if thumbs_down:
        return "bad"
    return None


def messages_prepare(
    rows: list[dict], *, texts: dict[int, str], overrides: dict[int, dict], facts: SessionFacts, negative: set[int]
) -> PreparedMessages:
    """`rows`: {"id", "role"} of a session's messages in order; `texts`: their scrubbed texts
    (a missing one could not be scrubbed); `overrides`: what final review decisions say per
    message (`message_review_overrides`); `negative`: ids of answers with a thumbs-down."""
    prepared = PreparedMessages(messages=[])
    for row in rows:
        text = texts.get(row["id"])
        if text is None:
            prepared.blocked, text = "pii_scrub_failed", ""
        override = overrides.get(row["id"], {})
        mark = None
        if row["role"] == "assistant":
            if "edited" in override:
                scrubbed = scrub_text(override["edited"])
                if not scrubbed.ok:
                    prepared.blocked = "pii_scrub_failed"
                text = scrubbed.text
                prepared.edited_ids.append(row["id"])
            mark = assistant_mark(
                message_id=row["id"], override=override, facts=facts, thumbs_down=row["id"] in negative
            )
        prepared.messages.append({"id": row["id"], "role": row["role"], "content": text, "mark": mark})
    return prepared


def session_as_trained(
    *, session_id: int, pending: dict | None = None, pending_message_id: int | None = None, supervision: str = "all"
) -> tuple[list[dict] | None, str]:
    """The conversation as a build (with `supervision`, the default "all") trains on it —
    [{"role", "content", "train"}], cut after the last trained answer — if the review decision
    `pending` (about the answer `pending_message_id`, if any) were final on top of the decisions
    already made; or (None, why not)."""
    rows = list(
        Message.objects.filter(session_id=session_id, alternative_to__isnull=True).order_by("seq").values("id", "role")
    )
    ids = [row["id"] for row in rows]
    overrides = message_review_overrides(message_ids=ids)
    facts = session_facts(session_ids=[session_id])[session_id]
    if pending:
        # The pending decision is the latest one: it wins, as a later final decision would.
        for key, turn in (pending.get("turns") or {}).items():
            if str(key).isdigit() and int(key) in ids:
                overrides.setdefault(int(key), {}).update(turn)
        decision_facts_apply(facts, message_id=pending_message_id, decision=pending)
    negative = set(Feedback.objects.filter(message_id__in=ids, rating=-1).values_list("message_id", flat=True))
    prepared = messages_prepare(
        rows, texts=message_texts_for_llm(message_ids=ids), overrides=overrides, facts=facts, negative=negative
    )
    if prepared.blocked:
        return None, prepared.blocked
    trained = supervised_messages(prepared.messages, supervision)
    if trained is None:
        return None, "no_answer_supervised"
    return trained, ""
