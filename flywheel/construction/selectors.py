"""Reads of construction: what is ready to construct, the engineers' pages (keyset pages, no
exact counts of big tables), and the dataset-ready samples the dataset builder reads.

Dataset-ready selectors return plain dicts, oldest first, paged by id (`after_id` = the last id
of the previous page):

    dataset_ready_sft_samples -> {"id", "kind": "sft", "messages": [{"role", "content"}...],
                                  "task_type", "lineage": {...}}
    dataset_ready_pairs       -> {"id", "kind": "pair", "prompt_messages": [...], "chosen", "rejected",
                                  "margin", "chosen_score", "rejected_score", "task_type", "lineage": {...}}
    dataset_ready_synthetic   -> {"id", "kind": "synthetic", "messages": [...], "task_type", "lineage": {...}}

Conversations are the PII-scrubbed text that construction worked on.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from flywheel.cleaning.selectors import sessions_ready_for_labeling
from flywheel.construction.mining import badcase_sources
from flywheel.construction.models import (
    BadCase,
    BadCaseReason,
    Candidate,
    ConstructedPair,
    ConstructionRun,
    Judgement,
    LLMCall,
    ReviewStatus,
    SeedPrompt,
    SftAnswer,
    SyntheticSample,
)
from flywheel.construction.selection import combine_orders
from flywheel.jobs.models import Job
from flywheel.ui.paging import KeysetPage, keyset_page

PAGE_SIZE = 50
# A foreground run (manage.py construct) silent this long was killed: its bad cases are free again.
FOREGROUND_RUN_TIMEOUT_S = 3600


def badcases_ready_for_construction(*, limit: int, ids: list[int] | None = None) -> QuerySet[BadCase]:
    """New bad cases (or ones a finished, failed or abandoned run left unfinished) in sessions
    that cleaning kept."""
    # A run with a job lives while its job does; a foreground run while it shows signs of life.
    quiet_since = timezone.now() - timedelta(seconds=FOREGROUND_RUN_TIMEOUT_S)
    run_alive = Q(run__status__in=(ConstructionRun.Status.PENDING, ConstructionRun.Status.RUNNING)) & (
        Q(run__job__isnull=False) & ~Q(run__job__status__in=(Job.Status.FAILED, Job.Status.DEAD, Job.Status.CANCELLED))
        | Q(run__job__isnull=True, run__heartbeat_at__gte=quiet_since)
    )
    unfinished_run = Q(status=BadCase.Status.CONSTRUCTING) & ~run_alive
    qs = BadCase.objects.filter(Q(status=BadCase.Status.NEW) | unfinished_run).filter(
        session__in=sessions_ready_for_labeling(limit=None).values("id")
    )
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return qs.order_by("id")[:limit]


def badcases_page(
    *, reason: str = "", status: str = "", before_id: int | None = None, size: int = PAGE_SIZE
) -> KeysetPage:
    qs = BadCase.objects.select_related("session")
    if reason:
        qs = qs.filter(Exists(BadCaseReason.objects.filter(bad_case=OuterRef("pk"), source=reason)))
    if status:
        qs = qs.filter(status=status)
    page = keyset_page(qs, past=before_id, size=size)
    reasons: dict[int, list[str]] = {}
    for bad_case_id, source in BadCaseReason.objects.filter(bad_case__in=page.rows).values_list(
        "bad_case_id", "source"
    ):
        reasons.setdefault(bad_case_id, []).append(source)
    for case in page.rows:
        case.reason_list = sorted(reasons.get(case.id, []))
    return page


def badcase_reason_sources() -> list[str]:
    return sorted(set(badcase_sources()) | {"review"})


def badcase_detail(*, bad_case: BadCase) -> dict:
    """Everything the bad case page shows: candidates with their scores, both pairwise orders,
    verifier results, the results and the account."""
    candidates = list(Candidate.objects.filter(bad_case=bad_case).order_by("index"))
    judgements = list(Judgement.objects.filter(bad_case=bad_case).order_by("id"))
    pointwise = {j.candidate_id: j for j in judgements if j.kind == Judgement.Kind.POINTWISE}
    comparisons: dict[tuple[int, int], dict] = {}
    by_id = {c.id: c for c in candidates}
    for j in judgements:
        if j.kind == Judgement.Kind.PAIRWISE:
            entry = comparisons.setdefault(
                (j.candidate_id, j.other_id),
                {"low": by_id.get(j.candidate_id), "high": by_id.get(j.other_id), "orders": {}},
            )
            entry["orders"][j.order] = j
    for entry in comparisons.values():
        ab, ba = entry["orders"].get("AB"), entry["orders"].get("BA")
        pref, inconsistent = combine_orders(ab.winner if ab and ab.ok else None, ba.winner if ba and ba.ok else None)
        entry["combined"] = {1: f"#{entry['low'].index} better", -1: f"#{entry['high'].index} better", 0: "tie"}.get(
            pref, "unknown (a judge failure)"
        )
        entry["inconsistent"] = inconsistent
    for candidate in candidates:
        candidate.pointwise = pointwise.get(candidate.id)
    return {
        "candidates": candidates,
        "comparisons": list(comparisons.values()),
        "reasons": list(bad_case.reasons.order_by("source")),
        "sft": SftAnswer.objects.filter(bad_case=bad_case).select_related("candidate", "reviewer").first(),
        "pair": ConstructedPair.objects.filter(bad_case=bad_case)
        .select_related("chosen", "rejected", "reviewer")
        .first(),
        "calls": list(
            LLMCall.objects.filter(bad_case=bad_case)
            .order_by("id")
            .only(
                "id",
                "purpose",
                "model",
                "prompt_version",
                "requests",
                "ok",
                "cached",
                "error",
                "prompt_tokens",
                "completion_tokens",
                "cost_usd",
                "created_at",
            )[:200]
        ),
    }


def runs_page(
    *, kind: str = ConstructionRun.Kind.CONSTRUCT, before_id: int | None = None, size: int = PAGE_SIZE
) -> KeysetPage:
    qs = ConstructionRun.objects.filter(kind=kind).select_related("job", "created_by")
    return keyset_page(qs, past=before_id, size=size)


def run_length_points(*, run: ConstructionRun, limit: int = 2000) -> list[dict]:
    """(length, score) of the candidates judged for this run's bad cases: the length-bias figure."""
    rows = Judgement.objects.filter(bad_case__run=run, kind=Judgement.Kind.POINTWISE, ok=True).values_list(
        "candidate__length_chars", "score", "candidate__source"
    )[:limit]
    return [{"x": length, "y": score, "source": source} for length, score, source in rows]


def run_calls(*, run: ConstructionRun, before_id: int | None = None, size: int = PAGE_SIZE) -> KeysetPage:
    return keyset_page(LLMCall.objects.filter(run=run).defer("messages", "answers"), past=before_id, size=size)


def seed_prompts(*, task_type: str = "") -> list[SeedPrompt]:
    qs = SeedPrompt.objects.filter(active=True).order_by("task_type", "id")
    if task_type:
        qs = qs.filter(task_type=task_type)
    return list(qs[:500])


def synthetic_page(
    *, method: str = "", status: str = "", before_id: int | None = None, size: int = PAGE_SIZE
) -> KeysetPage:
    qs = SyntheticSample.objects.select_related("run", "seed").defer("embedding")
    if method:
        qs = qs.filter(method=method)
    if status:
        qs = qs.filter(status=status)
    return keyset_page(qs, past=before_id, size=size)


def session_badcases_panel(session) -> dict:
    cases = list(BadCase.objects.filter(session=session).select_related("message").order_by("id")[:50])
    reasons: dict[int, list[str]] = {}
    for bad_case_id, source in BadCaseReason.objects.filter(bad_case__in=cases).values_list("bad_case_id", "source"):
        reasons.setdefault(bad_case_id, []).append(source)
    for case in cases:
        case.reason_list = sorted(reasons.get(case.id, []))
    return {"bad_cases": cases}


# --- dataset-ready samples ---------------------------------------------------------------------


def _conversation(case: BadCase) -> list[dict]:
    return [{"role": turn["role"], "content": turn["content"]} for turn in case.context]


def _reasons(case_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for bad_case_id, source in BadCaseReason.objects.filter(bad_case_id__in=case_ids).values_list(
        "bad_case_id", "source"
    ):
        out.setdefault(bad_case_id, []).append(source)
    return {k: sorted(v) for k, v in out.items()}


def _judging(case_ids: list[int]) -> dict[int, dict]:
    """Judge models and prompt versions that decided each bad case."""
    out: dict[int, dict] = {}
    for bad_case_id, model, version in (
        Judgement.objects.filter(bad_case_id__in=case_ids, ok=True)
        .values_list("bad_case_id", "model", "prompt_version")
        .distinct()
    ):
        entry = out.setdefault(bad_case_id, {"judge_models": set(), "judge_prompt_versions": set()})
        entry["judge_models"].add(model)
        entry["judge_prompt_versions"].add(version)
    return {k: {name: sorted(values) for name, values in v.items()} for k, v in out.items()}


def _lineage(case: BadCase, *, reasons, judging, review) -> dict:
    return {
        "bad_case_id": case.id,
        "session_id": case.session_id,
        "message_id": case.message_id,
        "reasons": reasons.get(case.id, []),
        **judging.get(case.id, {"judge_models": [], "judge_prompt_versions": []}),
        **review,
    }


def _review(row) -> dict:
    return {
        "reviewer": row.reviewer.username if row.reviewer else None,
        "reviewed_at": row.reviewed_at.isoformat() if row.reviewed_at else None,
        "review_item_id": row.review_item_id,
        "edited": row.edited,
        "run_id": row.run_id,
    }


def _candidate_lineage(candidate: Candidate, prefix: str = "") -> dict:
    return {
        f"{prefix}candidate_id": candidate.id,
        f"{prefix}candidate_source": candidate.source,
        f"{prefix}model": candidate.model,
        f"{prefix}prompt_version": candidate.prompt_version,
        f"{prefix}temperature": candidate.temperature,
    }


def dataset_ready_sft_samples(*, after_id: int | None = None, limit: int = 500) -> list[dict]:
    """Accepted SFT answers: the conversation up to the bad answer plus the accepted answer."""
    qs = (
        SftAnswer.objects.filter(status=ReviewStatus.ACCEPTED)
        .select_related("bad_case", "candidate", "reviewer")
        .order_by("id")
    )
    if after_id:
        qs = qs.filter(id__gt=after_id)
    rows = list(qs[:limit])
    ids = [r.bad_case_id for r in rows]
    reasons, judging = _reasons(ids), _judging(ids)
    return [
        {
            "id": row.id,
            "kind": "sft",
            "messages": [*_conversation(row.bad_case), {"role": "assistant", "content": row.final_text}],
            "task_type": row.bad_case.task_type,
            "lineage": {
                **_lineage(row.bad_case, reasons=reasons, judging=judging, review=_review(row)),
                **_candidate_lineage(row.candidate),
                "score": row.score,
                "decided_by": row.decided_by,
            },
        }
        for row in rows
    ]


def dataset_ready_pairs(*, after_id: int | None = None, limit: int = 500) -> list[dict]:
    """Accepted preference pairs: context, chosen and rejected answers, margin, lineage."""
    qs = (
        ConstructedPair.objects.filter(status=ReviewStatus.ACCEPTED)
        .select_related("bad_case", "chosen", "rejected", "reviewer")
        .order_by("id")
    )
    if after_id:
        qs = qs.filter(id__gt=after_id)
    rows = list(qs[:limit])
    ids = [r.bad_case_id for r in rows]
    reasons, judging = _reasons(ids), _judging(ids)
    return [
        {
            "id": row.id,
            "kind": "pair",
            "prompt_messages": _conversation(row.bad_case),
            "chosen": row.final_chosen,
            "rejected": row.final_rejected,
            "margin": row.margin,
            "chosen_score": row.chosen_score,
            "rejected_score": row.rejected_score,
            "task_type": row.bad_case.task_type,
            "lineage": {
                **_lineage(row.bad_case, reasons=reasons, judging=judging, review=_review(row)),
                **_candidate_lineage(row.chosen, "chosen_"),
                **_candidate_lineage(row.rejected, "rejected_"),
                "swapped_by_reviewer": row.swapped,
                "decided_by": row.decided_by,
            },
        }
        for row in rows
    ]


def dataset_ready_synthetic(*, after_id: int | None = None, limit: int = 500) -> list[dict]:
    """Accepted synthetic conversations, each with how it was made."""
    qs = (
        SyntheticSample.objects.filter(status=SyntheticSample.Status.ACCEPTED)
        .select_related("reviewer", "run")
        .defer("embedding")
        .order_by("id")
    )
    if after_id:
        qs = qs.filter(id__gt=after_id)
    return [
        {
            "id": row.id,
            "kind": "synthetic",
            "messages": row.messages,
            "task_type": row.task_type,
            "lineage": {
                "method": row.method,
                "variant": row.variant,
                "seed_prompt_id": row.seed_id,
                "source_ref": row.source_ref,
                "source_text": row.source_text,
                "prompt_version": row.prompt_version,
                "model": row.model,
                "run_id": row.run_id,
                "job_id": row.run.job_id,
                "similarity_to_nearest": row.similarity,
                "reviewer": row.reviewer.username if row.reviewer else None,
                "reviewed_at": row.reviewed_at.isoformat() if row.reviewed_at else None,
                "review_item_id": row.review_item_id,
            },
        }
        for row in qs[:limit]
    ]
