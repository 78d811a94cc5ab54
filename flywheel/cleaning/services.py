"""Cleaning writes: running the rule set over sessions in keyset batches, storing verdicts,
scrubbed text and duplicate links, and handing scrubbed text to whoever calls an LLM.

Every entry point is idempotent: verdicts are unique per (target, rule, version, config
hash), per-message and per-session rows are upserts, and the duplicate index keeps an item's
first verdict while its content is unchanged. A job killed halfway re-runs and finishes the
rest; a finished run re-run adds nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from flywheel.accounts.services import audit_record
from flywheel.cleaning.dedup import prepare_session, prepare_text
from flywheel.cleaning.dedup_store import DedupItem, DedupVerdict, dedup_assign
from flywheel.cleaning.models import (
    CleaningState,
    DedupEntry,
    MessageCleaning,
    MessageScrub,
    RuleResult,
    RuleSetConfig,
    SessionCleaning,
    Status,
)
from flywheel.cleaning.pii import SCRUBBER_VERSION, ScrubResult, scrub_text
from flywheel.cleaning.ruleset import (
    DUPLICATE_RULE,
    PII_RULE,
    MessageInput,
    RuleSet,
    SessionOutcome,
    evaluate_session,
    validate_overrides,
)
from flywheel.cleaning.selectors import report_cache_invalidate, ruleset_for_app
from flywheel.ingest.models import ChatSession, Message
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create

DEDUP_VERSION = 1
_LOCK = "cleaning-lock"
_SCAN_FROM, _SEEN_MAX = "appended-scan-from", "appended-seen-max"


def _text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


# --- configuration ----------------------------------------------------------------------------


def ruleset_config_save(*, app: str, overrides: dict, user=None) -> RuleSetConfig:
    """Store an app's rule overrides (validated: raises RuleConfigError with a clear message)."""
    clean = validate_overrides(overrides)
    config, _ = RuleSetConfig.objects.update_or_create(app=app, defaults={"overrides": clean, "updated_by": user})
    audit_record(
        actor=user,
        action="cleaning.rules.save",
        target_type="cleaning_rules",
        target_id=app or "*",
        detail={"overrides": clean},
    )
    return config


def cleaning_rerun_request(*, app: str | None, user=None):
    """Queue a re-clean of one app's sessions (or every session) under the current rules."""
    payload = {"app": app}
    return job_create(
        kind="cleaning.rerun",
        payload=payload,
        dedupe_key=f"cleaning.rerun:{app if app is not None else '*'}",
        created_by=user,
    )


# --- runs ---------------------------------------------------------------------------------------


def _merge(total: Counter, counts: dict) -> None:
    for key, value in counts.items():
        total[key] += value


def cleaning_run_pending(*, progress: Progress = progress_ignored, batch_size: int | None = None) -> dict:
    """The pipeline stage: clean every session never cleaned, and every cleaned session that
    received messages since, in keyset batches."""
    size = batch_size or settings.FLYWHEEL_CLEANING_BATCH_SIZE
    totals: Counter = Counter()
    after = 0
    while True:
        ids = list(
            ChatSession.objects.filter(id__gt=after, cleaning__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)[:size]
        )
        if not ids:
            break
        _merge(totals, cleaning_batch_process(session_ids=ids))
        after = ids[-1]
        progress(totals["sessions"], None, f"cleaned {totals['sessions']} new sessions")
    for ids in _appended_session_batches(size):
        _merge(totals, cleaning_batch_process(session_ids=ids))
        progress(totals["sessions"], None, "re-cleaned sessions with new messages")
    if totals["sessions"]:
        report_cache_invalidate()  # the report is cached for a minute; show a finished run at once
    return dict(totals)


def _state(name: str) -> int:
    row = CleaningState.objects.filter(name=name).values_list("value", flat=True).first()
    return row or 0


def _appended_session_batches(size: int):
    """Sessions cleaned before some of their messages arrived. Messages are scanned from the
    highest id seen two runs ago: a message whose transaction committed late (its id below
    one already seen) is still found on the next run."""
    scan_from = _state(_SCAN_FROM)
    seen_max = Message.objects.aggregate(top=Max("id"))["top"] or 0
    after = scan_from
    while True:
        rows = list(
            Message.objects.filter(id__gt=after, id__lte=seen_max)
            .order_by("id")
            .values_list("id", "session_id")[: size * 20]
        )
        if not rows:
            break
        newest: dict[int, int] = {}
        for message_id, session_id in rows:
            newest[session_id] = max(message_id, newest.get(session_id, 0))
        stale = [
            sid
            for sid, last in SessionCleaning.objects.filter(session_id__in=list(newest)).values_list(
                "session_id", "last_message_id"
            )
            if last < newest[sid]
        ]
        for start in range(0, len(stale), size):
            yield sorted(stale[start : start + size])
        after = rows[-1][0]
    previous_seen = _state(_SEEN_MAX)
    CleaningState.objects.update_or_create(name=_SCAN_FROM, defaults={"value": min(previous_seen, seen_max)})
    CleaningState.objects.update_or_create(name=_SEEN_MAX, defaults={"value": seen_max})


def cleaning_rerun(*, app: str | None, progress: Progress = progress_ignored, batch_size: int | None = None) -> dict:
    """Re-clean sessions (of one app, or all) whose verdict came from another rule set."""
    size = batch_size or settings.FLYWHEEL_CLEANING_BATCH_SIZE
    sessions = ChatSession.objects.all() if app is None else ChatSession.objects.filter(app=app)
    totals: Counter = Counter()
    after = 0
    fingerprints: dict[str, str] = {}
    # One count per job (not per page view) buys a real progress bar.
    total = sessions.count()
    while True:
        rows = list(
            sessions.filter(id__gt=after).order_by("id").values_list("id", "app", "cleaning__config_fingerprint")[:size]
        )
        if not rows:
            break
        after = rows[-1][0]
        stale = []
        for session_id, session_app, fingerprint in rows:
            if session_app not in fingerprints:
                fingerprints[session_app] = ruleset_for_app(app=session_app).fingerprint
            if fingerprint != fingerprints[session_app]:
                stale.append(session_id)
        totals["sessions_seen"] += len(rows)
        if stale:
            _merge(totals, cleaning_batch_process(session_ids=stale))
        progress(totals["sessions_seen"], total, f"re-cleaned {totals['sessions']} of {totals['sessions_seen']} seen")
    if totals["sessions"]:
        report_cache_invalidate()
    return dict(totals)


# --- one batch ----------------------------------------------------------------------------------


def cleaning_batch_process(*, session_ids: list[int]) -> dict:
    """Clean these sessions under their app's current rules, store everything, and return counts."""
    sessions = {s.id: s for s in ChatSession.objects.filter(id__in=session_ids).only("id", "app")}
    by_session: dict[int, list[MessageInput]] = {sid: [] for sid in sessions}
    last_message: dict[int, int] = {}
    for mid, sid, role, content, alt in (
        Message.objects.filter(session_id__in=list(sessions))
        .order_by("session_id", "seq", "id")
        .values_list("id", "session_id", "role", "content", "alternative_to_id")
    ):
        by_session[sid].append(MessageInput(id=mid, role=role, content=content, alternative=alt is not None))
        last_message[sid] = max(mid, last_message.get(sid, 0))
    rulesets: dict[str, RuleSet] = {}
    outcomes: dict[int, SessionOutcome] = {}
    for sid, session in sessions.items():
        if session.app not in rulesets:
            rulesets[session.app] = ruleset_for_app(app=session.app)
        outcomes[sid] = evaluate_session(
            by_session[sid], rulesets[session.app], pii_max_chars=settings.FLYWHEEL_PII_MAX_CHARS
        )
    now = timezone.now()
    with transaction.atomic():
        # One writer at a time: the duplicate index must see every representative elected before it.
        CleaningState.objects.bulk_create([CleaningState(name=_LOCK)], ignore_conflicts=True)
        CleaningState.objects.select_for_update().get(name=_LOCK)
        session_dups, prompt_dups = _deduplicate(sessions, outcomes, rulesets)
        _store_results(sessions, outcomes, rulesets, session_dups)
        _store_messages(outcomes, prompt_dups, now)
        _store_sessions(sessions, outcomes, rulesets, session_dups, last_message, now)
    counts = Counter(sessions=len(sessions))
    for sid, outcome in outcomes.items():
        counts[f"sessions_{outcome.status}"] += 1
        counts["messages"] += len(outcome.messages)
        if session_dups.get(sid) and session_dups[sid].representative_id:
            counts["sessions_duplicate"] += 1
        for result in outcome.results:
            counts[f"hits_{result.rule}"] += 1
    counts["prompts_duplicate"] = sum(1 for v in prompt_dups.values() if v.representative_id)
    return dict(counts)


def _scrubbed(message) -> str:
    return message.scrub.text if message.scrub.ok else message.text


def _deduplicate(sessions, outcomes, rulesets) -> tuple[dict[int, DedupVerdict], dict[int, DedupVerdict]]:
    session_items, prompt_items = [], []
    for sid, outcome in outcomes.items():
        ruleset = rulesets[sessions[sid].app]
        if outcome.status == Status.DROPPED:
            continue
        transcript = [m for m in outcome.messages if not m.alternative]
        if ruleset.dedup_sessions:
            prepared = prepare_session([(m.role, _scrubbed(m)) for m in transcript])
            if prepared is not None:
                session_items.append(DedupItem(sid, prepared))
        if ruleset.dedup_prompts:
            for message in transcript:
                if message.role == "user" and message.status != Status.DROPPED:
                    prepared = prepare_text(_scrubbed(message))
                    if prepared is not None:
                        prompt_items.append(DedupItem(message.id, prepared))
    threshold = settings.FLYWHEEL_DEDUP_THRESHOLD
    return (
        dedup_assign(scope=DedupEntry.Scope.SESSION, items=session_items, threshold=threshold),
        dedup_assign(scope=DedupEntry.Scope.PROMPT, items=prompt_items, threshold=threshold),
    )


def _duplicate_reason(verdict: DedupVerdict) -> str:
    kind = "exact duplicate" if verdict.exact else f"near duplicate (similarity {verdict.similarity:.2f})"
    return f"{kind} of session #{verdict.representative_id}"


def _store_results(sessions, outcomes, rulesets, session_dups) -> None:
    new: list[RuleResult] = []
    wanted: set[tuple] = set()
    for sid, outcome in outcomes.items():
        for r in outcome.results:
            new.append(
                RuleResult(
                    session_id=sid,
                    message_id=r.message_id,
                    rule=r.rule,
                    rule_version=r.version,
                    config_hash=r.config_hash,
                    action=r.action,
                    reason=r.reason,
                    detail=r.detail,
                )
            )
            wanted.add((sid, r.message_id, r.rule, r.version, r.config_hash))
        verdict = session_dups.get(sid)
        if verdict and verdict.representative_id:
            new.append(
                RuleResult(
                    session_id=sid,
                    message_id=None,
                    rule=DUPLICATE_RULE,
                    rule_version=DEDUP_VERSION,
                    config_hash="",
                    action="drop",
                    reason=_duplicate_reason(verdict),
                    detail={
                        "duplicate_of": verdict.representative_id,
                        "similarity": verdict.similarity,
                        "exact": verdict.exact,
                    },
                )
            )
    # Verdicts of the current rules that no longer hold (the session grew) are removed;
    # verdicts of other versions or parameters stay as history.
    current = {
        app: {(c.rule.name, c.rule.version, c.config_hash) for c in rs.rules} | {(PII_RULE, SCRUBBER_VERSION, "")}
        for app, rs in rulesets.items()
    }
    stale = [
        rid
        for rid, sid, mid, rule, version, config_hash in RuleResult.objects.filter(
            session_id__in=list(outcomes)
        ).values_list("id", "session_id", "message_id", "rule", "rule_version", "config_hash")
        if (rule, version, config_hash) in current[sessions[sid].app]
        and (sid, mid, rule, version, config_hash) not in wanted
    ]
    if stale:
        RuleResult.objects.filter(id__in=stale).delete()
    RuleResult.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)


def _scrub_row(message_id: int, source: str, scrub: ScrubResult) -> MessageScrub:
    return MessageScrub(
        message_id=message_id,
        scrubber_version=SCRUBBER_VERSION,
        input_hash=_text_hash(source),
        ok=scrub.ok,
        text=scrub.text if scrub.ok and scrub.findings else None,
        findings=scrub.findings,
        error=scrub.error[:500],
        has_findings=bool(scrub.findings),
    )


def _upsert_scrubs(rows: list[MessageScrub]) -> None:
    MessageScrub.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["message"],
        batch_size=1000,
        update_fields=[
            "scrubber_version",
            "input_hash",
            "ok",
            "text",
            "findings",
            "error",
            "has_findings",
            "scrubbed_at",
        ],
    )


def _store_messages(outcomes, prompt_dups, now) -> None:
    cleaning_rows, scrub_rows = [], []
    for sid, outcome in outcomes.items():
        for m in outcome.messages:
            verdict = prompt_dups.get(m.id)
            cleaning_rows.append(
                MessageCleaning(
                    message_id=m.id,
                    session_id=sid,
                    status=m.status,
                    text=m.text if m.changed else None,
                    language=m.language,
                    duplicate_of_id=verdict.representative_id if verdict else None,
                    similarity=verdict.similarity if verdict and verdict.representative_id else None,
                    cleaned_at=now,
                )
            )
            # Clean turns need no row: message_texts_for_llm scrubs (and stores) on demand,
            # which costs microseconds, where a row per message doubles this batch's writes.
            if m.scrub.findings or not m.scrub.ok:
                scrub_rows.append(_scrub_row(m.id, m.text, m.scrub))
    MessageCleaning.objects.bulk_create(
        cleaning_rows,
        update_conflicts=True,
        unique_fields=["message"],
        batch_size=1000,
        update_fields=["session", "status", "text", "language", "duplicate_of", "similarity", "cleaned_at"],
    )
    for row in scrub_rows:
        row.scrubbed_at = now
    _upsert_scrubs(scrub_rows)


def _session_language(outcome: SessionOutcome) -> str:
    counts = Counter(m.language for m in outcome.messages if m.role == "user" and m.language not in ("", "und"))
    return counts.most_common(1)[0][0] if counts else ""


def _store_sessions(sessions, outcomes, rulesets, session_dups, last_message, now) -> None:
    rows = []
    for sid, outcome in outcomes.items():
        verdict = session_dups.get(sid)
        duplicate = verdict.representative_id if verdict else None
        reasons = list(outcome.reasons)
        if duplicate:
            reasons.append(f"{DUPLICATE_RULE}: {_duplicate_reason(verdict)}")
        rows.append(
            SessionCleaning(
                session_id=sid,
                app=sessions[sid].app,
                status=outcome.status,
                reasons=reasons,
                duplicate_of_id=duplicate,
                similarity=verdict.similarity if duplicate else None,
                language=_session_language(outcome),
                config_fingerprint=rulesets[sessions[sid].app].fingerprint,
                last_message_id=last_message.get(sid, 0),
                cleaned_at=now,
            )
        )
    SessionCleaning.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["session"],
        update_fields=[
            "app",
            "status",
            "reasons",
            "duplicate_of",
            "similarity",
            "language",
            "config_fingerprint",
            "last_message_id",
            "cleaned_at",
        ],
    )


# --- scrubbed text for LLMs ---------------------------------------------------------------------


def message_texts_for_llm(*, message_ids: list[int]) -> dict[int, str]:
    """The PII-scrubbed text of these messages, scrubbing (and storing) any not scrubbed yet
    or scrubbed by an older scrubber. A message whose scrubbing failed is ABSENT: it must
    not be sent anywhere. Unknown ids are absent too."""
    ids = sorted({int(i) for i in message_ids})
    if not ids:
        return {}
    contents = dict(Message.objects.filter(id__in=ids).values_list("id", "content"))
    repaired = dict(
        MessageCleaning.objects.filter(message_id__in=ids, text__isnull=False).values_list("message_id", "text")
    )
    stored = {row.message_id: row for row in MessageScrub.objects.filter(message_id__in=ids)}
    texts: dict[int, str] = {}
    fresh: list[MessageScrub] = []
    for message_id, content in contents.items():
        source = repaired.get(message_id, content or "")
        row = stored.get(message_id)
        if row is None or row.scrubber_version != SCRUBBER_VERSION or row.input_hash != _text_hash(source):
            row = _scrub_row(message_id, source, scrub_text(source, max_chars=settings.FLYWHEEL_PII_MAX_CHARS))
            fresh.append(row)
        if row.ok:
            texts[message_id] = row.text if row.text is not None else source
    if fresh:
        _upsert_scrubs(fresh)
    return texts
