"""Writing sessions, messages, feedback and preference pairs: one path for the HTTP API,
file imports and the demo generator.

Guarantees:
- An item sent again changes nothing: rows are keyed by the client's ids, inserts skip ids
  that exist (first write wins), and the result says `unchanged`.
- A session that exists gets its new messages appended after its last one; sessions are
  locked (in id order) while positions are assigned, so concurrent appends never collide.
- Each item is validated alone: a bad item gets its error, its neighbours are written.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError

from flywheel.i18n import Text
from flywheel.ingest.models import ChatSession, Feedback, Message, PreferencePair
from flywheel.ingest.schema import FeedbackIn, PairIn, SessionIn, describe_errors
from flywheel.ingest.sql import insert_returning, select_in
from flywheel.pipeline.services import pipeline_announce_new_data

CREATED, APPENDED, UNCHANGED, ERROR = "created", "appended", "unchanged", "error"
LISTS = ("sessions", "feedback", "pairs")


@dataclass
class IngestResult:
    sessions: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    new_session_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = Counter()
        for kind in ("sessions", "feedback", "pairs"):
            for item in getattr(self, kind):
                counts[f"{kind}_{item['status']}"] += 1
        counts["messages_created"] = sum(i.get("messages_created", 0) for i in self.sessions)
        counts["errors"] = counts["sessions_error"] + counts["feedback_error"] + counts["pairs_error"]
        return dict(counts)

    def as_dict(self) -> dict[str, Any]:
        """The API's answer. An item's `error` is a Text until here: it becomes text in the active
        language (the request's Accept-Language); its `code` and `fields` are the same in any."""

        def said(item: dict[str, Any]) -> dict[str, Any]:
            return {**item, "error": str(item["error"])} if "error" in item else item

        return {
            "sessions": [said(i) for i in self.sessions],
            "feedback": [said(i) for i in self.feedback],
            "pairs": [said(i) for i in self.pairs],
            "counts": self.counts(),
        }


def refused(index: int, external_id: str | None, code: str, error: Text, **more: Any) -> dict[str, Any]:
    """An item's result when it is refused: `code` (schema.ERROR_CODES) for programs, `error` for
    people."""
    return {"index": index, "id": external_id, "status": ERROR, "code": code, "error": error, **more}


def anonymise_user_id(user_id: str | None) -> str:
    if not user_id:
        return ""
    return _keyed_hash(settings.FLYWHEEL_USER_ID_SALT, user_id)


@lru_cache(maxsize=65_536)  # a live session sends its user's id with every turn
def _keyed_hash(salt: str, user_id: str) -> str:
    return hmac.new(salt.encode(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


def _validated(raw_items: Iterable[Any], model, results: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """Validate each item alone; an invalid one gets its error row in `results`."""
    valid = []
    for index, raw in enumerate(raw_items):
        try:
            valid.append((index, model.model_validate(raw)))
        except ValidationError as exc:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            error, fields = describe_errors(exc)
            results.append(
                refused(index, raw_id if isinstance(raw_id, str) else None, "invalid_item", error, fields=fields)
            )
    return valid


def _refuse_repeated_ids(items: list[tuple[int, Any]], results: list[dict[str, Any]], what: Text):
    seen: set[str] = set()
    kept = []
    for index, item in items:
        if item.id in seen:
            results.append(refused(index, item.id, "repeated_id", Text(what.msgid, id=item.id)))
            continue
        seen.add(item.id)
        kept.append((index, item))
    return kept


@transaction.atomic
def ingest_batch(
    *,
    sessions: list[Any] = (),
    feedback: list[Any] = (),
    pairs: list[Any] = (),
    source: str = "api",
    announce: bool = True,
) -> IngestResult:
    """Validate and write one batch. `announce=False` skips queueing the pipeline, for bulk
    loaders that run it themselves once at the end."""
    result = IngestResult()
    now = timezone.now()
    valid_sessions = _refuse_repeated_ids(
        _validated(sessions, SessionIn, result.sessions),
        result.sessions,
        Text("session id %(id)r appears twice in this batch"),
    )
    valid_feedback = _refuse_repeated_ids(
        _validated(feedback, FeedbackIn, result.feedback),
        result.feedback,
        Text("feedback id %(id)r appears twice in this batch"),
    )
    valid_pairs = _refuse_repeated_ids(
        _validated(pairs, PairIn, result.pairs), result.pairs, Text("pair id %(id)r appears twice in this batch")
    )
    session_pk, created = _upsert_sessions(valid_sessions, source=source, now=now)
    # One lookup, after the sessions are locked and before any message is written, for the
    # messages that may already be stored: those of sessions that existed, and references to
    # messages outside this batch. A new session's messages are new unless another session
    # holds their ids, which their insert reveals.
    in_batch = {m.id for _, s in valid_sessions for m in s.messages}
    stored = _stored_messages(
        {m.id for _, s in valid_sessions if s.id not in created for m in s.messages}
        | (
            {m.alternative_to for _, s in valid_sessions for m in s.messages if m.alternative_to}
            | {f.message_id for _, f in valid_feedback}
            | {ext for _, p in valid_pairs for ext in (p.chosen_message_id, p.rejected_message_id)}
        )
        - in_batch
    )
    written = _write_messages(valid_sessions, result, stored, session_pk, created, now=now)
    known = {ext: (pk, owner, role) for ext, (owner, _, pk, role) in stored.items()}
    known.update(written)
    _write_feedback(valid_feedback, result, known, now=now)
    _write_pairs(valid_pairs, result, known, source=source)
    for kind in ("sessions", "feedback", "pairs"):
        getattr(result, kind).sort(key=lambda item: item["index"])
    # Feedback and pairs are new data too (thumbs-down answers become bad cases). A batch that
    # changed nothing may be a client's retry of one whose announcement failed after its commit
    # (Redis down): announce it again, which costs one cache operation while a run waits.
    if announce and any(item["status"] != ERROR for kind in LISTS for item in getattr(result, kind)):
        transaction.on_commit(pipeline_announce_new_data)
    return result


def _stored_messages(external_ids: set[str]) -> dict[str, tuple]:
    """external id -> (session pk, seq, pk, role) of the messages that exist."""
    rows = select_in(Message, ["external_id", "session_id", "seq", "id", "role"], "external_id", external_ids)
    return {row[0]: row[1:] for row in rows}


def _upsert_sessions(items: list[tuple[int, SessionIn]], *, source: str, now) -> tuple[dict[str, int], dict[str, int]]:
    """Create the sessions that are new and lock the ones that exist, in one statement; returns
    (pk of every session, pk of those created), by external id. Positions in a session are
    handed out under its lock, so concurrent appends never collide."""
    rows = [
        {
            "external_id": s.id,
            "app": s.app,
            "channel": s.channel,
            "anon_user_id": anonymise_user_id(s.user_id),
            "model_version": s.model_version,
            "metadata": s.metadata,
            "source": source,
            "ingested_at": now,
            "started_at": s.started_at
            or (s.messages[0].created_at if s.messages and s.messages[0].created_at else now),
        }
        for _, s in items
    ]
    created = {
        ext: pk
        for pk, ext in insert_returning(
            ChatSession, rows, conflict=["external_id"], returning=["id", "external_id"], lock_existing=True
        )
    }
    existing = select_in(
        ChatSession,
        ["external_id", "id"],
        "external_id",
        [row["external_id"] for row in rows if row["external_id"] not in created],
    )
    return {**dict(existing), **created}, created


def _write_messages(
    items: list[tuple[int, SessionIn]], result: IngestResult, stored: dict, session_pk: dict, created: dict, *, now
) -> dict[str, tuple]:
    """Write the new messages of each session item and report the item; returns the new
    messages as external id -> (pk, session pk, role). An item that is refused (message ids that
    another session holds, or a bad alternative) keeps nothing written: not its messages, and
    not its session if this batch created it."""
    existing = [pk for ext, pk in session_pk.items() if ext not in created]
    last_seq = _last_positions(existing)
    refusals: list[tuple[int, SessionIn, tuple[str, Text], MessagePlan | None]] = []
    plans, claimed = [], set()  # message ids planned by earlier items of this batch
    for index, item in items:
        own = session_pk[item.id]
        if foreign := [m.id for m in item.messages if m.id in stored and stored[m.id][0] != own]:
            refusals.append((index, item, _taken(foreign), None))
            continue
        plan = _plan_messages(item, own, stored, last_seq, now)
        if isinstance(plan, tuple):
            refusals.append((index, item, plan, None))
            continue
        new_ids = [row["external_id"] for row in plan.rows()]
        if taken := [ext for ext in new_ids if ext in claimed]:
            refusals.append(
                (
                    index,
                    item,
                    (
                        "message_id_taken",
                        Text(
                            "message ids already belong to another session of this batch: %(ids)s",
                            ids=", ".join(taken[:5]),
                        ),
                    ),
                    None,
                )
            )
            continue
        claimed.update(new_ids)
        plans.append((index, item, plan))
    inserted = dict(
        insert_returning(
            Message,
            [row for _, _, plan in plans for row in plan.plain],
            conflict=["external_id"],
            returning=["external_id", "id"],
        )
    )
    plans = _refuse_collisions(plans, inserted, refusals, [row for _, _, plan in plans for row in plan.plain])
    alternatives = [
        {**row, "alternative_to_id": inserted.get(target) or stored[target][2]}
        for _, _, plan in plans
        for row, target in plan.alternatives
    ]
    inserted.update(insert_returning(Message, alternatives, conflict=["external_id"], returning=["external_id", "id"]))
    plans = _refuse_collisions(plans, inserted, refusals, alternatives)
    _undo(refusals, inserted, created, stored, result)
    written = {}
    for index, item, plan in plans:
        new = plan.rows()
        written.update(
            (row["external_id"], (inserted[row["external_id"]], row["session_id"], row["role"])) for row in new
        )
        if item.id in created:
            result.new_session_ids.append(created[item.id])
            status = CREATED
        else:
            status = APPENDED if new else UNCHANGED
        result.sessions.append(
            {
                "index": index,
                "id": item.id,
                "status": status,
                "messages_created": len(new),
                "messages_unchanged": plan.unchanged,
            }
        )
    return written


def _last_positions(session_pks: list[int]) -> dict[int, int]:
    """session pk -> position of its last transcript message, for sessions that have one."""
    if not session_pks:
        return {}
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT session_id, MAX(seq) FROM {table} WHERE alternative_to_id IS NULL "
            f"AND session_id IN ({', '.join(['%s'] * len(session_pks))}) GROUP BY session_id",
            session_pks,
        )
        return dict(cursor.fetchall())


def _taken(ids: list[str]) -> tuple[str, Text]:
    return "message_id_taken", Text("message ids already belong to another session: %(ids)s", ids=", ".join(ids[:5]))


def _refuse_collisions(plans, inserted: dict, refusals: list, rows: list[dict]) -> list:
    """Plans whose `rows` were all inserted. A row the insert skipped has an id that another
    session holds (stored before, or written concurrently): its item joins `refusals`."""
    skipped = {row["external_id"] for row in rows if row["external_id"] not in inserted}
    if not skipped:
        return plans
    kept = []
    for index, item, plan in plans:
        if collided := [row["external_id"] for row in plan.rows() if row["external_id"] in skipped]:
            refusals.append((index, item, _taken(collided), plan))
        else:
            kept.append((index, item, plan))
    return kept


def _undo(refusals: list, inserted: dict, created: dict, stored: dict, result: IngestResult) -> None:
    """Report the refused items and delete what was written of them."""
    if not refusals:
        return
    messages, sessions, skipped = [], [], set()
    for index, item, (code, error), plan in refusals:
        result.sessions.append(refused(index, item.id, code, error))
        for row in plan.rows() if plan else ():
            if row["external_id"] in inserted:
                messages.append(inserted.pop(row["external_id"]))
            else:
                skipped.add(row["external_id"])
        if item.id in created:
            sessions.append(created.pop(item.id))
    # Through the ORM, which deletes alternatives before the answers they point at.
    Message.objects.filter(pk__in=messages).delete()
    ChatSession.objects.filter(pk__in=sessions).delete()
    # Where the refused ids are held, so that feedback on them still finds its message.
    stored.update(_stored_messages(skipped - stored.keys()))


@dataclass
class MessagePlan:
    """One session item's new messages, with their positions."""

    plain: list[dict[str, Any]]  # transcript messages
    alternatives: list[tuple[dict[str, Any], str]]  # (row, external id of the answer it competes with)
    unchanged: int  # messages of the item that are already stored

    def rows(self) -> list[dict[str, Any]]:
        return self.plain + [row for row, _ in self.alternatives]


def _plan_messages(item: SessionIn, session_pk: int, stored, last_seq, now) -> MessagePlan | tuple[str, Text]:
    """The plan of one session item's new messages; or why it is refused (code, error)."""
    seq = last_seq.get(session_pk, 0)
    positions: dict[str, int] = {}  # external id -> seq, for alternatives sent in the same item
    plain, alts, unchanged, seen = [], [], 0, set()
    for message in item.messages:
        if message.id in stored or message.id in seen:
            unchanged += 1
            continue
        seen.add(message.id)
        row = {
            "session_id": session_pk,
            "external_id": message.id,
            "role": message.role,
            "content": message.content,
            "model_version": message.model_version or (item.model_version if message.role == "assistant" else ""),
            "created_at": message.created_at or now,
            "alternative_to_id": None,
        }
        if message.alternative_to:
            target = message.alternative_to
            if message.role != "assistant":
                return "invalid_alternative", Text(
                    "message %(id)r: only assistant messages can be alternatives", id=message.id
                )
            if target in positions:
                target_seq = positions[target]
            elif target in stored and stored[target][0] == session_pk:
                target_seq = stored[target][1]
            else:
                return "invalid_alternative", Text(
                    "message %(id)r: alternative_to %(target)r is not a message of this session",
                    id=message.id,
                    target=target,
                )
            alts.append(({**row, "seq": target_seq}, target))
            continue
        seq += 1
        positions[message.id] = seq
        plain.append({**row, "seq": seq})
    last_seq[session_pk] = seq
    return MessagePlan(plain, alts, unchanged)


def _write_feedback(items: list[tuple[int, FeedbackIn]], result: IngestResult, known: dict, *, now) -> None:
    if not items:
        return
    rows, positions = [], []
    for index, item in items:
        target = known.get(item.message_id)
        if target is None:
            code, error = "unknown_message", Text("unknown message id %(id)r", id=item.message_id)
        elif target[2] != Message.Role.ASSISTANT:
            code, error = (
                "not_an_answer",
                Text(
                    "message %(id)r is a %(role)s message; feedback goes on assistant answers",
                    id=item.message_id,
                    role=target[2],
                ),
            )
        else:
            rows.append(
                {
                    "external_id": item.id,
                    "message_id": target[0],
                    "rating": item.rating,
                    "comment": item.comment,
                    "reasons": list(item.reasons),
                    "created_at": item.created_at or now,
                }
            )
            positions.append((index, item.id))
            continue
        result.feedback.append(refused(index, item.id, code, error))
    created = {ext for (ext,) in insert_returning(Feedback, rows, conflict=["external_id"], returning=["external_id"])}
    for index, external_id in positions:
        result.feedback.append(
            {"index": index, "id": external_id, "status": CREATED if external_id in created else UNCHANGED}
        )


def _write_pairs(items: list[tuple[int, PairIn]], result: IngestResult, known: dict, *, source: str) -> None:
    if not items:
        return
    rows, positions = [], []
    for index, item in items:
        chosen, rejected = known.get(item.chosen_message_id), known.get(item.rejected_message_id)
        code = error = None
        if chosen is None or rejected is None:
            code = "unknown_message"
            missing = item.chosen_message_id if chosen is None else item.rejected_message_id
            error = Text("unknown message id %(id)r", id=missing)
        elif chosen[0] == rejected[0]:
            code, error = "same_message", Text("chosen and rejected are the same message")
        elif chosen[1] != rejected[1]:
            code, error = "different_sessions", Text("chosen and rejected answers belong to different sessions")
        elif chosen[2] != Message.Role.ASSISTANT or rejected[2] != Message.Role.ASSISTANT:
            code, error = "not_an_answer", Text("both sides of a pair must be assistant answers")
        if error:
            result.pairs.append(refused(index, item.id, code, error))
            continue
        rows.append(
            {
                "external_id": item.id,
                "session_id": chosen[1],
                "chosen_id": chosen[0],
                "rejected_id": rejected[0],
                "source": source,
                "created_at": timezone.now(),
            }
        )
        positions.append((index, item.id))
    created = {
        ext for (ext,) in insert_returning(PreferencePair, rows, conflict=["external_id"], returning=["external_id"])
    }
    for index, external_id in positions:
        result.pairs.append(
            {"index": index, "id": external_id, "status": CREATED if external_id in created else UNCHANGED}
        )
