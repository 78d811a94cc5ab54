"""Bad-case mining: every signal that an assistant answer is bad becomes a `BadCase` (one per
answer) with a `BadCaseReason` per source, and the context construction needs (the scrubbed
conversation before the answer).

Sources read their own table past a cursor, like routing rules, and are cheap (no LLM): the
pipeline stage (order 40) runs them all. Construction registers its own in ConstructionConfig.ready:
thumbs-down feedback, cleaning flags on assistant answers, poor / unsafe / hallucinated labels (the
session's last answer), continuity problems (the user had to ask the same question again);
reviewers' verdicts on bad-case answers arrive through the review kind
(flywheel/construction/kinds.py). Another app adds a source with `badcase_source_register` in
its own ready():

    def low_quality_labels(*, after: int, limit: int) -> tuple[int, list[Signal]]:
        rows = Label.objects.filter(id__gt=after, quality__lte=2).order_by("id")[:limit]
        return (rows[-1].id if rows else after), [Signal(r.message_id, "label", {"label_ids": [r.id]}) for r in rows]

A source must only move forward and may return the same signal twice (recording is an upsert):
each run starts a little behind its cursor (flywheel/pipeline/cursors.py: a row committed after
the cursor passed its id is not lost), so recent rows are read again, and the counts reported are
of what changed (new bad cases, new reasons, signals that added something), never of re-reads.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from flywheel.cleaning.models import RuleResult
from flywheel.cleaning.pii import scrub_text
from flywheel.cleaning.services import message_texts_for_llm
from flywheel.construction.models import BadCase, BadCaseReason
from flywheel.construction.verifiers import asserts_in_prompt
from flywheel.continuity.features import containment, content_ngrams, normalise
from flywheel.continuity.models import ContinuityPrediction
from flywheel.ingest.models import Feedback, Message
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.labeling.models import Label
from flywheel.pipeline.cursors import cursor_read
from flywheel.registry import Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signal:
    message_id: int
    source: str
    detail: dict = field(default_factory=dict)
    hint: str = ""  # what a user said about the answer (scrubbed before it is stored)
    task_type: str = ""  # what the signal knows of the task (a label's task type)


Source = Callable[..., tuple[int, list[Signal]]]
_SOURCES: Registry[Source] = Registry("bad-case source")


def badcase_source_register(name: str, func: Source) -> Source:
    return _SOURCES.add(name, func)


def badcase_sources() -> list[str]:
    return sorted(_SOURCES)


# --- built-in sources ---------------------------------------------------------------------------


def thumbs_down_source(*, after: int, limit: int) -> tuple[int, list[Signal]]:
    rows = list(
        Feedback.objects.filter(id__gt=after)
        .order_by("id")
        .values("id", "rating", "comment", "reasons", "message_id", "message__role")[:limit]
    )
    signals = []
    for row in rows:
        if row["rating"] != -1 or row["message__role"] != Message.Role.ASSISTANT:
            continue
        reasons = row["reasons"] if isinstance(row["reasons"], list) else []
        hint = "; ".join(filter(None, [", ".join(map(str, reasons)), row["comment"] or ""]))
        signals.append(Signal(row["message_id"], "thumbs_down", {"feedback_ids": [row["id"]]}, hint=hint))
    return (rows[-1]["id"] if rows else after), signals


def cleaning_flag_source(*, after: int, limit: int) -> tuple[int, list[Signal]]:
    rows = list(
        RuleResult.objects.filter(id__gt=after)
        .order_by("id")
        .values("id", "action", "rule", "reason", "message_id", "message__role")[:limit]
    )
    signals = [
        Signal(row["message_id"], "cleaning", {"rules": [row["rule"]], "rule_result_ids": [row["id"]]})
        for row in rows
        if row["message_id"] and row["action"] == "flag" and row["message__role"] == Message.Role.ASSISTANT
    ]
    return (rows[-1]["id"] if rows else after), signals


def _last_answers(session_ids: set[int]) -> dict[int, int]:
    """The last transcript answer of each session: what a session-level label speaks about."""
    last: dict[int, int] = {}
    for session_id, message_id in (
        Message.objects.filter(session_id__in=session_ids, role=Message.Role.ASSISTANT, alternative_to__isnull=True)
        .order_by("session_id", "-seq")
        .values_list("session_id", "id")
    ):
        last.setdefault(session_id, message_id)
    return last


def label_source(*, after: int, limit: int) -> tuple[int, list[Signal]]:
    """Labels (per session) from the LLM or a reviewer that are trusted and say the answers are
    poor (quality at or below FLYWHEEL_MINING_LABEL_QUALITY_MAX), unsafe or hallucinated. The
    offline labeler's guesses and labels whose input tried to steer the labeler are not used."""
    rows = list(
        Label.objects.filter(id__gt=after)
        .order_by("id")
        .values(
            "id", "session_id", "source", "trusted", "quality", "safety_flag", "hallucination", "task_type", "reason"
        )[:limit]
    )
    picked = [r for r in rows if r["trusted"] and r["source"] in (Label.Source.LLM, Label.Source.HUMAN)]
    last = _last_answers({r["session_id"] for r in picked})
    signals = []
    for row in picked:
        message_id = last.get(row["session_id"])
        if message_id is None:
            continue
        for source, hit in (
            ("low_quality_label", row["quality"] <= settings.FLYWHEEL_MINING_LABEL_QUALITY_MAX),
            ("safety_flag", row["safety_flag"]),
            ("hallucination", row["hallucination"]),
        ):
            if hit:
                signals.append(
                    Signal(
                        message_id,
                        source,
                        {"label_ids": [row["id"]], "quality": row["quality"], "reason": (row["reason"] or "")[:300]},
                        task_type=row["task_type"],
                    )
                )
    return (rows[-1]["id"] if rows else after), signals


# A follow-up sharing this much of the question before it asks the same thing again.
REASK_OVERLAP = 0.6


def continuity_source(*, after: int, limit: int) -> tuple[int, list[Signal]]:
    """Continuity problems: a user turn that continues the topic by asking nearly the same
    question again (both directions of content n-gram containment at least REASK_OVERLAP) says
    the answer between the two missed; that answer is a bad case."""
    rows = list(
        ContinuityPrediction.objects.filter(id__gt=after)
        .order_by("id")
        .values("id", "message_id", "session_id", "continues", "probability", "model_version")[:limit]
    )
    repeats = [r for r in rows if r["continues"]]
    transcripts: dict[int, list[dict]] = defaultdict(list)
    for message in (
        Message.objects.filter(session_id__in={r["session_id"] for r in repeats}, alternative_to__isnull=True)
        .order_by("seq")
        .values("id", "session_id", "seq", "role", "content")
    ):
        transcripts[message["session_id"]].append(message)
    signals = []
    for row in repeats:
        turns = transcripts[row["session_id"]]
        position = next((i for i, t in enumerate(turns) if t["id"] == row["message_id"]), None)
        if position is None:
            continue
        answer = next((t for t in reversed(turns[:position]) if t["role"] == Message.Role.ASSISTANT), None)
        asked = next((t for t in reversed(turns[:position]) if t["role"] == Message.Role.USER), None)
        if answer is None or asked is None or answer["seq"] < asked["seq"]:
            continue
        again, before = (
            content_ngrams(normalise(turns[position]["content"])),
            content_ngrams(normalise(asked["content"])),
        )
        overlap = min(containment(again, before), containment(before, again))
        if overlap >= REASK_OVERLAP:
            signals.append(
                Signal(
                    answer["id"],
                    "continuity",
                    {
                        "prediction_ids": [row["id"]],
                        "reask_message_id": row["message_id"],
                        "overlap": round(overlap, 3),
                        "model_version": row["model_version"],
                    },
                )
            )
    return (rows[-1]["id"] if rows else after), signals


# --- recording ----------------------------------------------------------------------------------


def _merge_detail(old: dict, new: dict) -> dict:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, list):
            merged[key] = sorted(set(merged.get(key, [])) | set(value), key=str)[:200]
        else:
            merged[key] = value
    return merged


def _contexts(messages: list[Message]) -> dict[int, dict]:
    """For each bad answer: its scrubbed context, scrubbed text, or why it is blocked."""
    by_session: dict[int, list[Message]] = defaultdict(list)
    for row in (
        Message.objects.filter(session_id__in={m.session_id for m in messages}, alternative_to__isnull=True)
        .only("id", "session_id", "seq", "role")
        .order_by("seq", "id")
    ):
        by_session[row.session_id].append(row)
    before = {}
    for message in messages:
        turns = [t for t in by_session[message.session_id] if t.seq < message.seq and t.role != Message.Role.TOOL]
        before[message.id] = turns[-settings.FLYWHEEL_CONSTRUCTION_CONTEXT_TURNS :]
    wanted = {t.id for turns in before.values() for t in turns} | {m.id for m in messages}
    texts = message_texts_for_llm(message_ids=sorted(wanted))
    out = {}
    for message in messages:
        turns = before[message.id]
        unscrubbed = [t.id for t in turns if t.id not in texts] + ([] if message.id in texts else [message.id])
        if unscrubbed:
            out[message.id] = {
                "blocked": f"message {unscrubbed[0]} could not be PII-scrubbed; it must not go to an LLM"
            }
        elif not any(t.role == Message.Role.USER for t in turns):
            out[message.id] = {"blocked": "there is no user message before this answer"}
        else:
            limit = settings.FLYWHEEL_CONSTRUCTION_TURN_MAX_CHARS
            context = [{"message_id": t.id, "role": t.role, "content": texts[t.id][:limit]} for t in turns]
            out[message.id] = {"context": context, "bad_answer": texts[message.id][:limit]}
    return out


def _scrubbed_hint(hints: list[str]) -> str:
    text = " | ".join(dict.fromkeys(h for h in hints if h))[:2000]
    if not text:
        return ""
    scrub = scrub_text(text)
    return scrub.text if scrub.ok else ""


def badcase_signals_record(*, signals: list[Signal]) -> dict:
    """Upsert the bad cases and reasons these signals point at. Returns counts of what changed:
    bad cases and reasons created, and signals that added something (to a new reason, or a
    feedback id or the like to an existing one); a signal recorded before counts nothing."""
    signals = [s for s in signals if s.message_id]
    if not signals:
        return {"signals_new": 0, "bad_cases_new": 0, "reasons_new": 0}
    by_message: dict[int, list[Signal]] = defaultdict(list)
    for signal in signals:
        by_message[signal.message_id].append(signal)
    existing = {bc.message_id: bc for bc in BadCase.objects.filter(message_id__in=list(by_message))}
    fresh = list(
        Message.objects.filter(id__in=[m for m in by_message if m not in existing], role=Message.Role.ASSISTANT)
    )
    contexts = _contexts(fresh) if fresh else {}
    created_cases = created_reasons = new_signals = 0
    with transaction.atomic():
        for message in fresh:
            built = contexts[message.id]
            hint = _scrubbed_hint([s.hint for s in by_message[message.id]])
            last_user = next((t["content"] for t in reversed(built.get("context", [])) if t["role"] == "user"), "")
            tests = asserts_in_prompt(last_user)
            task_type = "code" if tests else next((s.task_type for s in by_message[message.id] if s.task_type), "")
            try:
                with transaction.atomic():
                    case = BadCase.objects.create(
                        message=message,
                        session_id=message.session_id,
                        context=built.get("context", []),
                        bad_answer=built.get("bad_answer", ""),
                        feedback_hint=hint,
                        status=BadCase.Status.BLOCKED if "blocked" in built else BadCase.Status.NEW,
                        blocked_reason=built.get("blocked", ""),
                        proposed_tests=(tests or "")[:20_000],
                        task_type=task_type[:32],
                    )
                created_cases += 1
            except IntegrityError:  # mined concurrently
                case = BadCase.objects.get(message=message)
            existing[message.id] = case
        for message_id, group in by_message.items():
            case = existing.get(message_id)
            if case is None:  # not an assistant answer, or gone
                continue
            known_type = next((s.task_type for s in group if s.task_type), "")
            if known_type and not case.task_type:
                case.task_type = known_type[:32]
                BadCase.objects.filter(id=case.id, task_type="").update(task_type=case.task_type)
            for source in sorted({s.source for s in group}):
                same = [signal for signal in group if signal.source == source]
                detail: dict = {}
                for signal in same:
                    detail = _merge_detail(detail, signal.detail)
                reason = BadCaseReason.objects.select_for_update().filter(bad_case=case, source=source).first()
                if reason is None:
                    try:
                        with transaction.atomic():
                            BadCaseReason.objects.create(bad_case=case, source=source, detail=detail)
                        created_reasons += 1
                        new_signals += len(same)
                        continue
                    except IntegrityError:
                        reason = BadCaseReason.objects.select_for_update().get(bad_case=case, source=source)
                new_signals += sum(_merge_detail(reason.detail, signal.detail) != reason.detail for signal in same)
                merged = _merge_detail(reason.detail, detail)
                if merged != reason.detail:
                    reason.detail = merged
                    reason.save(update_fields=["detail"])
    return {"signals_new": new_signals, "bad_cases_new": created_cases, "reasons_new": created_reasons}


def badcase_mine_pending(*, progress: Progress = progress_ignored, batch_size: int | None = None) -> dict:
    """Run every source from its cursor's window until none has anything new. Returns counts per
    source, of what changed only (see badcase_signals_record)."""
    batch_size = batch_size or settings.FLYWHEEL_MINING_BATCH_SIZE
    report = {}
    for name in badcase_sources():
        source = _SOURCES[name]
        totals = {"signals": 0, "bad_cases_new": 0, "reasons_new": 0}

        def step(after: int, name=name, source=source, totals=totals) -> int:
            reached, signals = source(after=after, limit=batch_size)
            counts = badcase_signals_record(signals=signals)
            totals["signals"] += counts["signals_new"]
            totals["bad_cases_new"] += counts["bad_cases_new"]
            totals["reasons_new"] += counts["reasons_new"]
            progress(totals["bad_cases_new"], None, f"{name}: {totals['bad_cases_new']} new bad cases, at {reached}")
            return reached

        cursor_read(f"badcase-source:{name}", step)
        report[name] = totals
    return report
