"""Writes of construction: runs (create, execute, summarise), engineers' edits of a bad case,
and what a reviewer's final decision does to constructed answers and pairs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from flywheel.accounts.services import audit_record
from flywheel.cleaning.pii import scrub_text
from flywheel.construction.engine import RunConfig, badcase_construct
from flywheel.construction.ledger import BudgetExhausted, Ledger
from flywheel.construction.mining import Signal, badcase_signals_record
from flywheel.construction.models import (
    BadCase,
    Candidate,
    ConstructedPair,
    ConstructionRun,
    Judgement,
    LLMCall,
    ReviewStatus,
    SftAnswer,
)
from flywheel.construction.selection import normalize_text
from flywheel.construction.selectors import badcases_ready_for_construction
from flywheel.construction.stats import length_bias, position_bias
from flywheel.construction.verifiers import verifier_spec_clean
from flywheel.i18n import Text
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.registry import JobCancelled
from flywheel.jobs.services import job_create
from flywheel.llm.client import LLMRequestRejected, LLMUnavailable, llm_is_configured

logger = logging.getLogger(__name__)


class NothingToConstruct(ValueError):
    pass


# --- runs --------------------------------------------------------------------------------------


def construction_run_create(
    *, limit: int, config: dict, user=None, bad_case_ids: list[int] | None = None, with_job: bool = True
) -> ConstructionRun:
    """Claim up to `limit` bad cases ready for construction and create the run that will build
    them (with a job on the llm queue, unless it runs in the foreground). ValueError: a bad
    setting, or nothing to construct."""
    run_config = RunConfig.from_dict(config)
    if limit < 1:
        raise ValueError(Text("the limit must be at least 1"))
    with transaction.atomic():
        ready = badcases_ready_for_construction(limit=limit, ids=bad_case_ids)
        ids = list(ready.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True))
        if not ids:
            raise NothingToConstruct("no bad case is ready for construction (new, not blocked, in a cleaned session)")
        run = ConstructionRun.objects.create(
            kind=ConstructionRun.Kind.CONSTRUCT,
            config=run_config.as_dict(),
            bad_case_ids=ids,
            heartbeat_at=timezone.now(),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        BadCase.objects.filter(id__in=ids).update(status=BadCase.Status.CONSTRUCTING, run=run)
        if with_job:
            run.job = job_create(kind="construction.run", payload={"run_id": run.id}, created_by=user, total=len(ids))
            run.save(update_fields=["job"])
        if user is not None:
            audit_record(
                actor=user,
                action="construction.run.start",
                target_type="construction_run",
                target_id=run.id,
                detail={"bad_cases": len(ids), **run_config.as_dict()},
            )
    return run


def _release_claims(run: ConstructionRun) -> None:
    """Bad cases this run claimed but did not finish go back to the pool; what was stored for
    them (candidates, judgements) is reused by the next run."""
    BadCase.objects.filter(run=run, status=BadCase.Status.CONSTRUCTING).update(status=BadCase.Status.NEW)


def construction_run_execute(
    *, run_id: int, progress: Progress = progress_ignored, check_cancelled: Callable[[], None] = lambda: None
) -> dict:
    """Construct the run's bad cases, skipping those an earlier attempt finished. Idempotent:
    a run executed again (after a kill) asks the LLM only for what was not stored yet."""
    run = ConstructionRun.objects.get(id=run_id)
    if run.is_finished:
        return run.summary
    if not llm_is_configured():
        raise LLMRequestRejected(
            "no LLM is configured (OPENAI_BASE_URL is empty): construction needs a teacher and a judge"
        )
    run_config = RunConfig.from_dict(run.config)
    ledger = Ledger(run, max_calls=run_config.max_calls, max_cost_usd=run_config.max_cost_usd)
    ConstructionRun.objects.filter(id=run.id).update(status=ConstructionRun.Status.RUNNING)
    cases = list(BadCase.objects.filter(id__in=run.bad_case_ids).select_related("message").order_by("id"))
    stop_reason, status = "", ConstructionRun.Status.FINISHED
    judge_silent_in_a_row = 0
    try:
        for done, case in enumerate(cases):
            check_cancelled()
            ConstructionRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now())
            progress(done, len(cases), f"bad case {case.id}")
            if case.run_id != run.id or case.status != BadCase.Status.CONSTRUCTING:
                continue  # finished by an earlier attempt of this run, or taken back
            try:
                outcome = badcase_construct(
                    case=case, config=run_config, ledger=ledger, check_cancelled=check_cancelled
                )
            except BudgetExhausted as exc:
                stop_reason, status = f"stopped at bad case {case.id}: {exc}", ConstructionRun.Status.STOPPED
                break
            judge_silent_in_a_row = judge_silent_in_a_row + 1 if outcome.judge_gave_nothing else 0
            if judge_silent_in_a_row >= settings.FLYWHEEL_CONSTRUCTION_JUDGE_FAILURE_STOP:
                stop_reason = (
                    f"stopped: the judge gave no valid verdict for {judge_silent_in_a_row} bad cases in a row "
                    f"(last: bad case {case.id}); check the judge model and its answers in the call log"
                )
                status = ConstructionRun.Status.STOPPED
                break
    except (JobCancelled, LLMRequestRejected) as exc:
        _release_claims(run)
        reason = "cancelled" if isinstance(exc, JobCancelled) else f"the LLM server refused the request: {exc}"
        ConstructionRun.objects.filter(id=run.id).update(
            status=ConstructionRun.Status.STOPPED if isinstance(exc, JobCancelled) else ConstructionRun.Status.FAILED,
            stop_reason=reason[:2000],
            summary=run_summary(run=run, stop_reason=reason),
            finished_at=timezone.now(),
        )
        raise
    except LLMUnavailable:
        raise  # the job is retried later and resumes here; the claims stay with this run
    _release_claims(run)
    summary = run_summary(run=run, stop_reason=stop_reason)
    ConstructionRun.objects.filter(id=run.id).update(
        status=status, stop_reason=stop_reason, summary=summary, finished_at=timezone.now()
    )
    progress(len(cases), len(cases), stop_reason or "finished")
    return summary


def construction_run_abandon(*, run_id: int, reason: str) -> None:
    """A foreground run that cannot go on (the server is down): stop it and give its bad cases
    back; the candidates and judgements stored so far are reused by the next run."""
    run = ConstructionRun.objects.get(id=run_id)
    _release_claims(run)
    ConstructionRun.objects.filter(id=run.id).update(
        status=ConstructionRun.Status.STOPPED,
        stop_reason=reason[:2000],
        summary=run_summary(run=run, stop_reason=reason),
        finished_at=timezone.now(),
    )


def run_summary(*, run: ConstructionRun, stop_reason: str = "") -> dict:
    """What a run did, in counts: the one-line summary of `manage.py construct` and the job result."""
    processed = BadCase.objects.filter(run=run, status=BadCase.Status.DONE)
    refusals = Counter(r for r in processed.exclude(pair_refusal="").values_list("pair_refusal", flat=True))
    sft_refusals = Counter(r for r in processed.exclude(sft_refusal="").values_list("sft_refusal", flat=True))
    calls = LLMCall.objects.filter(run=run)
    requests = sum(calls.values_list("requests", flat=True))
    cost = sum(calls.values_list("cost_usd", flat=True))
    points = list(
        Judgement.objects.filter(bad_case__in=processed, kind=Judgement.Kind.POINTWISE, ok=True).values_list(
            "candidate__length_chars", "score"
        )
    )
    pairs = ConstructedPair.objects.filter(run=run)
    kept = list(pairs.values_list("chosen__length_chars", "rejected__length_chars"))
    orders: dict[tuple, dict] = {}
    for bad_case_id, key, winner, ok in Judgement.objects.filter(
        bad_case__in=processed, kind=Judgement.Kind.PAIRWISE
    ).values_list("bad_case_id", "key", "winner", "ok"):
        _, low, high, order = key.split(":")
        orders.setdefault((bad_case_id, low, high), {})[order] = winner if ok else ""
    accounts = [
        f"bad case {case_id}: {account}"
        for case_id, account in processed.order_by("id").values_list("id", "account")[:20]
    ]
    return {
        "run_id": run.id,
        "bad_cases": processed.count(),
        "candidates": Candidate.objects.filter(bad_case__in=processed).count(),
        "teacher_candidates": Candidate.objects.filter(llm_call__run=run).count(),
        "sft_answers": SftAnswer.objects.filter(run=run).count(),
        "pairs": pairs.count(),
        "pairs_refused": dict(sorted(refusals.items())),
        "sft_refused": dict(sorted(sft_refusals.items())),
        "judge_failures": Judgement.objects.filter(run=run, ok=False).count(),
        "llm_calls": requests,
        "cost_usd": round(float(cost), 6),
        "length_bias": length_bias([(int(n), float(s)) for n, s in points], kept),
        "position_bias": position_bias([(o.get("AB", ""), o.get("BA", "")) for o in orders.values()]),
        "stopped": stop_reason,
        "account": accounts,
    }


# --- engineers' edits ---------------------------------------------------------------------------


def badcase_settings_save(
    *, bad_case_id: int, user, verifier=None, reference_text: str | None = None, task_type: str | None = None
) -> BadCase:
    """Set what construction checks a bad case against. ValueError on a bad verifier."""
    spec = verifier_spec_clean(verifier)
    with transaction.atomic():
        case = BadCase.objects.select_for_update().get(id=bad_case_id)
        case.verifier = spec
        if reference_text is not None:
            # The reference goes to the judge: it is scrubbed like everything else sent to an LLM.
            scrubbed = scrub_text(reference_text.strip()[:20_000])
            if not scrubbed.ok:
                raise ValueError(
                    Text("the reference answer could not be checked for personal data: %(error)s", error=scrubbed.error)
                )
            case.reference_text = scrubbed.text
            case.reference_source = f"engineer:{user.username}" if case.reference_text else ""
        if task_type is not None:
            case.task_type = task_type.strip()[:32]
        case.save(update_fields=["verifier", "reference_text", "reference_source", "task_type"])
        audit_record(
            actor=user,
            action="construction.badcase.settings",
            target_type="bad_case",
            target_id=case.id,
            detail={"verifier": spec, "reference": bool(case.reference_text), "task_type": case.task_type},
        )
    return case


def badcase_proposed_tests_accept(*, bad_case_id: int, user) -> BadCase:
    """Make the tests found in the user's prompt this bad case's code verifier. Chat text is
    written by strangers, so this is the only way such tests come to run: an engineer read
    them and said so (audited). ValueError when nothing is proposed or the tests are invalid."""
    with transaction.atomic():
        case = BadCase.objects.select_for_update().get(id=bad_case_id)
        if not case.proposed_tests.strip():
            raise ValueError(Text("no tests are proposed for this bad case"))
        spec = verifier_spec_clean({"kind": "code", "tests": case.proposed_tests})
        case.verifier = spec
        case.save(update_fields=["verifier"])
        audit_record(
            actor=user,
            action="construction.badcase.tests_accepted",
            target_type="bad_case",
            target_id=case.id,
            detail={"tests": spec["tests"]},
        )
    return case


def badcase_reset(*, bad_case_id: int, user) -> BadCase:
    """Forget a finished construction (candidates, judgements, unreviewed results) so the next
    run builds it again, e.g. with a new judge. Refused once a result was accepted."""
    with transaction.atomic():
        case = BadCase.objects.select_for_update().get(id=bad_case_id)
        if case.status == BadCase.Status.CONSTRUCTING:
            raise ValueError(Text("this bad case is being constructed right now"))
        accepted = Q(status=ReviewStatus.ACCEPTED)
        if (
            SftAnswer.objects.filter(accepted, bad_case=case).exists()
            or ConstructedPair.objects.filter(accepted, bad_case=case).exists()
        ):
            raise ValueError(Text("a result of this bad case was accepted in review; it cannot be rebuilt"))
        SftAnswer.objects.filter(bad_case=case).delete()
        ConstructedPair.objects.filter(bad_case=case).delete()
        Judgement.objects.filter(bad_case=case).delete()
        Candidate.objects.filter(bad_case=case).delete()
        if case.status == BadCase.Status.DONE:
            case.status = BadCase.Status.NEW
        case.sft_refusal = case.pair_refusal = case.account = ""
        case.save(update_fields=["status", "sft_refusal", "pair_refusal", "account"])
        audit_record(actor=user, action="construction.badcase.reset", target_type="bad_case", target_id=case.id)
    return case


# --- review decisions ---------------------------------------------------------------------------


def _edited_text(decision: dict, message_id: int | None) -> str | None:
    turn = (decision.get("turns") or {}).get(str(message_id)) or {}
    return turn.get("edited")


def sft_answer_review_apply(*, sft_answer_id: int, decision: dict, user, message_id: int | None) -> SftAnswer:
    """Accept (with the reviewer's edit, if any) or reject a constructed SFT answer."""
    sft = SftAnswer.objects.select_for_update().select_related("candidate").get(id=sft_answer_id)
    edited = _edited_text(decision, message_id)
    if decision.get("verdict") == "accept":
        sft.status = ReviewStatus.ACCEPTED
        sft.edited = bool(edited) and normalize_text(edited) != normalize_text(sft.candidate.text)
        sft.final_text = edited if sft.edited else sft.candidate.text
    else:
        sft.status, sft.final_text, sft.edited = ReviewStatus.REJECTED, "", False
    sft.reviewer, sft.reviewed_at = user, timezone.now()
    sft.save(update_fields=["status", "final_text", "edited", "reviewer", "reviewed_at"])
    return sft


def pair_review_apply(*, pair_id: int, decision: dict, user, message_id: int | None) -> ConstructedPair:
    """The reviewer keeps the pair as marked (optionally editing the chosen answer), keeps it
    the other way round, or rejects it (a tie, or both answers bad)."""
    pair = ConstructedPair.objects.select_for_update().select_related("chosen", "rejected").get(id=pair_id)
    preferred = decision.get("preferred")
    edited = _edited_text(decision, message_id)
    pair.swapped = preferred == "rejected"
    if preferred in ("chosen", "rejected"):
        chosen, rejected = (pair.rejected, pair.chosen) if pair.swapped else (pair.chosen, pair.rejected)
        pair.edited = bool(edited) and normalize_text(edited) != normalize_text(chosen.text)
        pair.status = ReviewStatus.ACCEPTED
        pair.final_chosen = edited if pair.edited else chosen.text
        pair.final_rejected = rejected.text
    else:
        pair.status, pair.final_chosen, pair.final_rejected, pair.edited = ReviewStatus.REJECTED, "", "", False
    pair.reviewer, pair.reviewed_at = user, timezone.now()
    pair.save(
        update_fields=["status", "swapped", "final_chosen", "final_rejected", "edited", "reviewer", "reviewed_at"]
    )
    return pair


def badcase_review_verdict_record(*, message_id: int, verdict: str, edited: str | None, review_item_id: int) -> None:
    """A reviewer judged a bad-case answer: "bad"/"harmful" adds a reason (and their rewrite,
    PII-scrubbed, becomes the judge's reference answer); "acceptable" takes a waiting bad case out."""
    if verdict != "acceptable":
        badcase_signals_record(
            signals=[Signal(message_id, "review", {"review_item_ids": [review_item_id], "verdicts": [verdict]})]
        )
    case = BadCase.objects.filter(message_id=message_id).first()
    if case is None:
        return
    fields = []
    if verdict == "acceptable" and case.status in (BadCase.Status.NEW, BadCase.Status.BLOCKED):
        case.status, case.account = BadCase.Status.DISMISSED, "a reviewer found the answer acceptable"
        fields += ["status", "account"]
    scrubbed = scrub_text(edited.strip()[:20_000]) if edited and edited.strip() and verdict != "acceptable" else None
    if scrubbed is not None and scrubbed.ok:
        case.reference_text, case.reference_source = scrubbed.text, f"review:{review_item_id}"
        fields += ["reference_text", "reference_source"]
    if fields:
        case.save(update_fields=fields)
