"""Evaluation sets made from review: a reviewer adds a session's best answer, as the reference, to a
draft; freezing the draft writes an immutable evaluation set.

Why drafts. An evaluation set is immutable and content-addressed (an evaluation's figures must
mean the same items forever), so "add this session to the set" cannot change a set. Items are
gathered in a draft instead, a mutable list that nothing can evaluate; freezing it calls
`eval_set_create` with every item of the draft, which gives a new version (its `parent` is the
version it extends) or, when the items are the same as a version's, that version. Adding to an
existing set starts a draft from it (its items copied in first), so the new version is a superset
and the old one, with every evaluation made on it, stays as it was.

The best answer of a session, in order of precedence: a reviewer's rewrite of an answer, an
answer construction made and a reviewer accepted, an answer a reviewer approved. Its context is
the conversation before it, as a dataset would hold it (PII scrubbed, earlier rewrites applied),
so the overlap check by content hash finds the same conversation in a training split.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count

from flywheel.accounts.services import audit_record
from flywheel.cleaning.pii import scrub_text
from flywheel.cleaning.services import message_texts_for_llm
from flywheel.construction.models import ReviewStatus, SftAnswer
from flywheel.datasets.facts import session_facts
from flywheel.datasets.models import DatasetSample
from flywheel.evaluation.models import EvalSet, EvalSetDraft, EvalSetDraftItem
from flywheel.evaluation.services import (
    DEFAULT_TASK_TYPE,
    EvalSetError,
    conversation_hash,
    eval_item_clean,
    eval_set_create,
    training_matches,
)
from flywheel.ingest.models import Message
from flywheel.review.selectors import message_review_overrides

SOURCE_TITLES = {
    EvalSetDraftItem.Source.REWRITE: "a reviewer's rewrite",
    EvalSetDraftItem.Source.CONSTRUCTED: "a constructed answer a reviewer accepted",
    EvalSetDraftItem.Source.APPROVED: "an answer a reviewer approved",
}
_PRECEDENCE = [EvalSetDraftItem.Source.REWRITE, EvalSetDraftItem.Source.CONSTRUCTED, EvalSetDraftItem.Source.APPROVED]


@dataclass(frozen=True)
class ReviewedAnswer:
    """One answer of a session that can be a reference: the context before it, the reference."""

    message_id: int
    seq: int
    source: str
    context: list[dict]
    reference: str

    @property
    def source_title(self) -> str:
        return SOURCE_TITLES[self.source]


# --- reads ------------------------------------------------------------------------------------


def session_reviewed_answers(*, session_id: int) -> tuple[list[ReviewedAnswer], str]:
    """The session's answers that reviewers rewrote, accepted or approved (the best source of each),
    and the session's task type (a reviewer's, else the label's, else "default"). An answer whose
    text could not be PII-scrubbed, or that follows such a message, is left out: it must not leave."""
    rows = list(
        Message.objects.filter(session_id=session_id, alternative_to__isnull=True)
        .order_by("seq")
        .values("id", "seq", "role")
    )
    ids = [row["id"] for row in rows]
    texts = message_texts_for_llm(message_ids=ids)
    overrides = message_review_overrides(message_ids=ids)
    facts = session_facts(session_ids=[session_id])[session_id]
    constructed = dict(
        SftAnswer.objects.filter(bad_case__message_id__in=ids, status=ReviewStatus.ACCEPTED).values_list(
            "bad_case__message_id", "final_text"
        )
    )
    answers: list[ReviewedAnswer] = []
    context: list[dict] = []
    for row in rows:
        text = texts.get(row["id"])
        rewrite = overrides.get(row["id"], {}).get("edited")
        if rewrite is not None:
            scrubbed = scrub_text(rewrite)
            text = scrubbed.text if scrubbed.ok else None
        if text is None:
            break  # nothing after a message that could not be scrubbed can be shown or sent
        if row["role"] == "assistant":
            choices = {
                EvalSetDraftItem.Source.REWRITE: rewrite is not None and text,
                EvalSetDraftItem.Source.CONSTRUCTED: constructed.get(row["id"]),
                EvalSetDraftItem.Source.APPROVED: (
                    row["id"] in facts.approved_message_ids or overrides.get(row["id"], {}).get("train") is True
                )
                and text,
            }
            source = next((name for name in _PRECEDENCE if choices[name]), None)
            if source is not None and any(m["role"] == "user" for m in context):
                answers.append(
                    ReviewedAnswer(
                        message_id=row["id"],
                        seq=row["seq"],
                        source=source,
                        context=list(context),
                        reference=str(choices[source]),
                    )
                )
        # Later turns see what a dataset would hold of this one: its rewrite, if a reviewer made one.
        context.append({"role": row["role"], "content": text})
    return answers, (facts.task_type or DEFAULT_TASK_TYPE)[:64]


def session_eval_panel(session) -> dict:
    """The session page's "add to an evaluation set" panel."""
    answers, task_type = session_reviewed_answers(session_id=session.id)
    return {
        "answers": answers,
        "task_type": task_type,
        "drafts": list(EvalSetDraft.objects.annotate(item_count=Count("items"))[:30]),
        "eval_sets": list(EvalSet.objects.order_by("-id").only("id", "name", "item_count")[:30]),
        "in_drafts": list(
            EvalSetDraftItem.objects.filter(session_id=session.id)
            .select_related("draft")
            .order_by("-id")
            .values("draft_id", "draft__name", "message_id", "reference_source")[:20]
        ),
    }


def training_overlap(*, session_id: int, messages: list[dict]) -> list[dict]:
    """Dataset versions whose train split holds this conversation, or its prompt, among the samples
    built from the same session: [{"version", "match": "conversation" | "prompt"}]."""
    full, prompt = {conversation_hash(messages): "item"}, {conversation_hash(messages[:-1]): "item"}
    found: dict[int, str] = {}
    samples = DatasetSample.objects.filter(
        session_id=session_id, split=DatasetSample.Split.TRAIN, kind=DatasetSample.Kind.SFT
    ).values_list("version_id", "record")
    for version_id, record in samples.iterator(chunk_size=200):
        match = training_matches(record.get("messages", []), full=full, prompt=prompt).get("item")
        if match and found.get(version_id) != "conversation":
            found[version_id] = match
    return [{"version": version_id, "match": match} for version_id, match in sorted(found.items())]


def overlap_text(overlap: list[dict]) -> str:
    return ", ".join(f"{row['match']} in the train split of v{row['version']}" for row in overlap)


# --- writes -----------------------------------------------------------------------------------


def eval_draft_create(*, name: str, base_id: int | None = None, user=None) -> EvalSetDraft:
    """A new draft; from a set, its items are copied in first (the frozen version will extend it)."""
    name = (name or "").strip()
    base = EvalSet.objects.filter(id=base_id).first() if base_id else None
    if base_id and base is None:
        raise EvalSetError(f"no evaluation set {base_id}")
    if not name:
        if base is None:
            raise EvalSetError("name the new draft")
        name = base.name
    if len(name) > 120:
        raise EvalSetError("a draft's name has at most 120 characters")
    with transaction.atomic():
        draft = EvalSetDraft.objects.create(
            name=name,
            base=base,
            weights=base.weights if base else {},
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        if base is not None:
            EvalSetDraftItem.objects.bulk_create(
                [
                    EvalSetDraftItem(
                        draft=draft,
                        item_hash=item.item_hash,
                        messages=item.messages,
                        reference=item.reference,
                        task_type=item.task_type,
                        reference_source=EvalSetDraftItem.Source.BASE,
                    )
                    for item in base.items.order_by("position")
                ],
                ignore_conflicts=True,
            )
    return draft


def eval_draft_for_target(*, target: str, name: str = "", user=None) -> EvalSetDraft:
    """`draft:<id>` (that draft), `set:<id>` (the newest draft extending that set, or a new one) or
    `new` (a new draft named `name`)."""
    kind, _, value = (target or "").partition(":")
    if kind == "new":
        return eval_draft_create(name=name, user=user)
    if kind in ("draft", "set") and value.isdigit():
        if kind == "draft":
            draft = EvalSetDraft.objects.filter(id=int(value)).first()
            if draft is None:
                raise EvalSetError(f"no draft {value}")
            return draft
        existing = EvalSetDraft.objects.filter(base_id=int(value), latest__isnull=True).order_by("-id").first()
        return existing or eval_draft_create(name="", base_id=int(value), user=user)
    raise EvalSetError("choose a draft, an evaluation set to extend, or a new draft")


def eval_draft_add_from_session(
    *, session_id: int, message_id: int, target: str, name: str = "", task_type: str = "", user=None
) -> tuple[EvalSetDraftItem, bool]:
    """Add one reviewed answer of a session, as the reference, with the conversation before it.
    The text is read again here from what reviewers decided, never taken from the form. Returns
    (item, created): the same conversation twice in a draft is one item."""
    answers, label_task_type = session_reviewed_answers(session_id=session_id)
    chosen = next((answer for answer in answers if answer.message_id == message_id), None)
    if chosen is None:
        raise EvalSetError(
            "that answer is not one a reviewer rewrote, accepted or approved in this session; "
            "review it first (or it could not be PII-scrubbed)"
        )
    cleaned = eval_item_clean(
        {
            "messages": chosen.context + [{"role": "assistant", "content": chosen.reference}],
            "task_type": (task_type or "").strip() or label_task_type,
        },
        "the answer",
    )
    conversation = cleaned["messages"] + [{"role": "assistant", "content": cleaned["reference"]}]
    with transaction.atomic():
        draft = eval_draft_for_target(target=target, name=name, user=user)
        try:
            with transaction.atomic():
                item = EvalSetDraftItem.objects.create(
                    draft=draft,
                    item_hash=conversation_hash(conversation),
                    messages=cleaned["messages"],
                    reference=cleaned["reference"],
                    task_type=cleaned["task_type"],
                    reference_source=chosen.source,
                    session_id=session_id,
                    message_id=message_id,
                    overlap=training_overlap(session_id=session_id, messages=conversation),
                    added_by=user if getattr(user, "is_authenticated", False) else None,
                )
        except IntegrityError:
            return EvalSetDraftItem.objects.get(draft=draft, item_hash=conversation_hash(conversation)), False
        EvalSetDraft.objects.filter(id=draft.id).update(updated_at=item.added_at)
        audit_record(
            actor=user,
            action="eval_set.draft_add",
            target_type="eval_set_draft",
            target_id=draft.id,
            detail={"session": session_id, "message": message_id, "source": chosen.source, "item": item.id},
        )
    return item, True


def eval_draft_item_remove(*, item_id: int, user=None) -> int:
    """Take an item out of a draft (versions frozen before keep it). Returns the draft's id."""
    item = EvalSetDraftItem.objects.filter(id=item_id).first()
    if item is None:
        raise EvalSetError(f"no draft item {item_id}")
    with transaction.atomic():
        item.delete()
        audit_record(
            actor=user,
            action="eval_set.draft_remove",
            target_type="eval_set_draft",
            target_id=item.draft_id,
            detail={"item_hash": item.item_hash, "session": item.session_id, "message": item.message_id},
        )
    return item.draft_id


def eval_draft_freeze(*, draft_id: int, user=None) -> tuple[EvalSet, bool]:
    """The draft's items as an immutable evaluation set: a new version extending the last one frozen
    (or the base), or the existing set with exactly these items. The draft stays open for more."""
    with transaction.atomic():
        draft = EvalSetDraft.objects.select_for_update().filter(id=draft_id).first()
        if draft is None:
            raise EvalSetError(f"no draft {draft_id}")
        items = [
            {
                "messages": item.messages + [{"role": "assistant", "content": item.reference}],
                "task_type": item.task_type,
            }
            for item in draft.items.order_by("id")
        ]
        if not items:
            raise EvalSetError("the draft has no item yet: add reviewed answers from session pages")
        eval_set, created = eval_set_create(
            name=draft.name,
            items=items,
            source="review",
            weights=draft.weights,
            parent=draft.latest or draft.base,
            user=user,
        )
        EvalSetDraft.objects.filter(id=draft.id).update(latest=eval_set)
        audit_record(
            actor=user,
            action="eval_set.freeze",
            target_type="eval_set",
            target_id=eval_set.id,
            detail={"draft": draft.id, "items": len(items), "created": created},
        )
    return eval_set, created
