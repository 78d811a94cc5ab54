"""Best-of-N construction of one bad case: candidates from the teacher, verifiers, pointwise
judging with a rubric (and a reference answer where one exists), pairwise judging in both
orders where it decides, then the SFT answer and the preference pair, or the reasons why not.

Every paid answer is stored as it arrives (candidates by index, judgements by key) and looked
up before asking, so running a bad case again, after a kill or a spent budget, asks only for
what is missing. Nothing here loops on a bad judge: a JSON call re-asks at most twice, the
judging of one bad case stops after two failures without a single valid verdict, and the run
stops after several such bad cases in a row (services.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flywheel.construction import prompts
from flywheel.construction.ledger import JsonCall, Ledger
from flywheel.construction.models import BadCase, Candidate, ConstructedPair, Judgement, SftAnswer
from flywheel.construction.selection import (
    REFUSAL_REASONS,
    Scored,
    best_of,
    combine_orders,
    pair_key,
    pair_refusal,
    preference,
    sft_refusal,
    text_hash,
    top_contest,
    worst_of,
)
from flywheel.construction.verifiers import (
    VERIFIER_UNAVAILABLE,
    extract_final_answer,
    verifier_unavailable_reason,
    verify,
)
from flywheel.i18n import Text
from flywheel.llm.client import model_for
from flywheel.review.services import review_item_enqueue


@dataclass(frozen=True)
class RunConfig:
    n: int
    temperature: float
    margin: float
    band: float
    min_distinct: int
    max_calls: int
    max_cost_usd: float
    confirm_pairs: bool = True

    @classmethod
    def from_dict(cls, raw: dict) -> RunConfig:
        """The run settings, with the defaults from flywheel/settings.py; ValueError names a bad value."""

        def number(name, default, low, high, kind=float):
            value = raw.get(name, default)
            if value in (None, ""):
                value = default
            try:
                value = kind(value)
            except (TypeError, ValueError):
                raise ValueError(Text("%(name)s must be a number, not %(value)r", name=name, value=value)) from None
            if not low <= value <= high:
                raise ValueError(
                    Text(
                        "%(name)s must be between %(low)s and %(high)s (got %(value)s)",
                        name=name,
                        low=low,
                        high=high,
                        value=value,
                    )
                )
            return value

        return cls(
            n=number("n", settings.FLYWHEEL_CONSTRUCTION_N, 1, 16, int),
            temperature=number("temperature", settings.FLYWHEEL_CONSTRUCTION_TEMPERATURE, 0.0, 2.0),
            margin=number("margin", settings.FLYWHEEL_CONSTRUCTION_PAIR_MARGIN, 0.1, 9.0),
            band=number("band", settings.FLYWHEEL_CONSTRUCTION_PAIRWISE_BAND, 0.0, 9.0),
            min_distinct=number("min_distinct", settings.FLYWHEEL_CONSTRUCTION_MIN_DISTINCT, 1, 16, int),
            max_calls=number("max_calls", settings.FLYWHEEL_CONSTRUCTION_MAX_CALLS, 1, 1_000_000, int),
            max_cost_usd=number("max_cost_usd", settings.FLYWHEEL_CONSTRUCTION_MAX_COST_USD, 0.0, 1_000_000.0),
            confirm_pairs=bool(raw.get("confirm_pairs", True)),
        )

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CaseOutcome:
    sft: bool = False
    pair: bool = False
    sft_refusal: str = ""
    pair_refusal: str = ""
    judge_failures: int = 0
    judged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def judge_gave_nothing(self) -> bool:
        return self.judge_failures > 0 and self.judged == 0


# --- candidates ------------------------------------------------------------------------------


def _candidate_create(
    case: BadCase, *, index: int, source: str, text: str, known: dict[str, int], **fields
) -> Candidate:
    digest = text_hash(text)
    return Candidate.objects.create(
        bad_case=case,
        index=index,
        source=source,
        text=text,
        normalized_hash=digest,
        length_chars=len(text),
        duplicate_of_id=known.get(digest),
        **fields,
    )


def _candidates(case: BadCase) -> list[Candidate]:
    return list(Candidate.objects.filter(bad_case=case).order_by("index"))


def candidates_ensure(*, case: BadCase, config: RunConfig, ledger: Ledger) -> list[Candidate]:
    """The original answer (index 0) and up to N teacher answers, asking only for the missing
    ones. A server that ignores `n` and answers once per request is asked again, at most N times."""
    existing = _candidates(case)
    if not existing:
        with transaction.atomic():
            _candidate_create(
                case,
                index=0,
                source=Candidate.Source.ORIGINAL,
                text=case.bad_answer,
                known={},
                model=case.message.model_version or "",
            )
        existing = _candidates(case)
    messages = prompts.teacher_messages(context=case.context, feedback_hint=case.feedback_hint)
    for _ in range(config.n):
        have = sum(1 for c in existing if c.source == Candidate.Source.TEACHER)
        missing = config.n - have
        if missing <= 0:
            break

        def store(record, result, _start=len(existing)):  # noqa: B008
            known = {}
            for c in Candidate.objects.filter(bad_case=case).order_by("index"):
                known.setdefault(c.normalized_hash, c.id)
            for offset, (text, reason) in enumerate(
                zip(result.contents, result.finish_reasons or [""] * len(result.contents))
            ):
                candidate = _candidate_create(
                    case,
                    index=_start + offset,
                    source=Candidate.Source.TEACHER,
                    text=text,
                    known=known,
                    llm_call=record,
                    model=record.model,
                    temperature=config.temperature,
                    prompt_version=prompts.TEACHER_VERSION,
                    finish_reason=reason[:32],
                )
                known.setdefault(candidate.normalized_hash, candidate.id)

        _record, result = ledger.texts(
            purpose="teacher",
            messages=messages,
            n=missing,
            temperature=config.temperature,
            prompt_version=prompts.TEACHER_VERSION,
            bad_case=case,
            on_answer=store,
        )
        existing = _candidates(case)
        if not result.contents:
            break
    return existing


# --- judging ---------------------------------------------------------------------------------


def _verifier_spec(case: BadCase) -> dict | None:
    if case.verifier:
        return case.verifier
    if case.task_type == "math" and case.reference_text:
        expected = extract_final_answer(case.reference_text)
        if expected:
            return {"kind": "math", "expected": expected}
    return None


def _pointwise(case: BadCase, candidate: Candidate, *, ledger: Ledger, judgements: dict[str, Judgement]) -> Judgement:
    key = f"point:{candidate.index}"
    if key in judgements:
        return judgements[key]

    def store(call: JsonCall) -> None:
        ok = call.result is not None
        score = float(call.result.data["score"]) if ok else None
        judgements[key] = Judgement.objects.create(
            bad_case=case,
            key=key,
            kind=Judgement.Kind.POINTWISE,
            candidate=candidate,
            ok=ok,
            score=score,
            reasons=str(call.result.data.get("reasons", ""))[:4000] if ok else "",
            error=call.record.error,
            model=call.record.model,
            prompt_version=prompts.POINTWISE_VERSION,
            llm_call=call.record,
            run=ledger.run,
        )
        Candidate.objects.filter(id=candidate.id).update(score=score)
        candidate.score = score

    ledger.json(
        purpose="pointwise",
        role="judge",
        schema=prompts.POINTWISE_SCHEMA,
        prompt_version=prompts.POINTWISE_VERSION,
        bad_case=case,
        on_answer=store,
        messages=prompts.pointwise_messages(
            context=case.context, candidate=candidate.text, reference=case.reference_text
        ),
    )
    return judgements[key]


def _pairwise(
    case: BadCase, a: Candidate, b: Candidate, *, ledger: Ledger, judgements: dict[str, Judgement]
) -> tuple[int | None, bool]:
    """Both orders of one comparison, combined: (+1 lower index better, -1, 0 tie, None)."""
    low, high = (a, b) if a.index < b.index else (b, a)
    winners = {}
    for order in ("AB", "BA"):
        key = f"pair:{low.index}:{high.index}:{order}"
        if key not in judgements:
            first, second = (low, high) if order == "AB" else (high, low)

            def store(call: JsonCall, _key=key, _order=order) -> None:
                ok = call.result is not None
                judgements[_key] = Judgement.objects.create(
                    bad_case=case,
                    key=_key,
                    kind=Judgement.Kind.PAIRWISE,
                    candidate=low,
                    other=high,
                    order=_order,
                    ok=ok,
                    winner=call.result.data["winner"] if ok else "",
                    reasons=str(call.result.data.get("reasons", ""))[:4000] if ok else "",
                    error=call.record.error,
                    model=call.record.model,
                    prompt_version=prompts.PAIRWISE_VERSION,
                    llm_call=call.record,
                    run=ledger.run,
                )

            ledger.json(
                purpose="pairwise",
                role="judge",
                schema=prompts.PAIRWISE_SCHEMA,
                prompt_version=prompts.PAIRWISE_VERSION,
                bad_case=case,
                on_answer=store,
                messages=prompts.pairwise_messages(
                    context=case.context, answer_a=first.text, answer_b=second.text, reference=case.reference_text
                ),
            )
        judgement = judgements[key]
        winners[order] = judgement.winner if judgement.ok else None
    return combine_orders(winners["AB"], winners["BA"])


# --- one bad case ----------------------------------------------------------------------------


def badcase_construct(
    *, case: BadCase, config: RunConfig, ledger: Ledger, check_cancelled: Callable[[], None] = lambda: None
) -> CaseOutcome:
    """Construct one bad case (claimed by the ledger's run). Raises BudgetExhausted when the
    run's budget runs out mid-way; what was stored is kept for the next attempt."""
    outcome = CaseOutcome()
    candidates = candidates_ensure(case=case, config=config, ledger=ledger)
    original = candidates[0]
    distinct = [c for c in candidates if c.duplicate_of_id is None and c.text.strip()]
    teacher_distinct = {
        c.normalized_hash
        for c in distinct
        if c.source == Candidate.Source.TEACHER and c.normalized_hash != original.normalized_hash
    }
    teacher_count = sum(1 for c in candidates if c.source == Candidate.Source.TEACHER)
    outcome.notes.append(
        f"{teacher_count} teacher answers ({model_for('teacher')}, T={config.temperature}), "
        f"{len(teacher_distinct)} distinct and different from the original"
    )
    if len(teacher_distinct) < min(config.min_distinct, config.n):
        outcome.sft_refusal = outcome.pair_refusal = "no_diversity"
        return _finish(case, outcome, ledger=ledger)

    spec = _verifier_spec(case)
    if spec:
        unavailable = verifier_unavailable_reason(spec)
        for candidate in distinct:
            if unavailable is None and candidate.verifier is None:
                result = verify(candidate.text, spec)
                if result.unavailable:
                    unavailable = result.detail
                    break
                candidate.verifier = result.as_dict()
                Candidate.objects.filter(id=candidate.id).update(verifier=candidate.verifier)
        if unavailable:  # what was stored stays; once the sandbox works, a rebuild checks the rest
            outcome.notes.append(f"the {spec['kind']} verifier cannot run here, so no code was run: {unavailable}")
            outcome.sft_refusal = outcome.pair_refusal = VERIFIER_UNAVAILABLE
            return _finish(case, outcome, ledger=ledger)
        failed = sum(1 for c in distinct if c.verifier_failed)
        outcome.notes.append(f"{spec['kind']} verifier: {failed} of {len(distinct)} candidates failed")

    judgements = {j.key: j for j in Judgement.objects.filter(bad_case=case)}
    failures_in_a_row = 0
    for candidate in distinct:
        check_cancelled()
        judgement = _pointwise(case, candidate, ledger=ledger, judgements=judgements)
        if judgement.ok:
            outcome.judged += 1
            failures_in_a_row = 0
        else:
            outcome.judge_failures += 1
            failures_in_a_row += 1
            if failures_in_a_row >= 2 and outcome.judged == 0:
                outcome.notes.append(
                    f"the judge gave no valid verdict twice in a row ({judgement.error[:300]}); "
                    "judging of this bad case stopped"
                )
                break
    by_index = {c.index: c for c in distinct}
    scored = [
        Scored(
            index=c.index,
            is_original=c.source == Candidate.Source.ORIGINAL,
            text_hash=c.normalized_hash,
            score=c.score,
            verifier_failed=c.verifier_failed,
        )
        for c in distinct
        if c.score is not None
        and judgements.get(f"point:{c.index}", None) is not None
        and judgements[f"point:{c.index}"].ok
    ]
    if scored:
        outcome.notes.append(
            "scores " + ", ".join(f"#{s.index}: {s.score:g}" for s in sorted(scored, key=lambda s: s.index))
        )

    prefs: dict[tuple[int, int], int | None] = {}
    contest = top_contest(scored, band=config.band)
    if contest:
        check_cancelled()
        first, second = contest
        prefs[pair_key(first.index, second.index)], _ = _pairwise(
            case, by_index[first.index], by_index[second.index], ledger=ledger, judgements=judgements
        )
    best = best_of(scored, prefs)
    original_scored = next((s for s in scored if s.is_original), None)
    outcome.sft_refusal = (
        sft_refusal(
            best=best,
            original=original_scored,
            prefs=prefs,
            judged=len(scored),
            verifier_failures=sum(1 for s in scored if s.verifier_failed),
        )
        or ""
    )
    rejected = worst_of(scored, besides=best) if best else None
    if best is None:
        refusal = outcome.sft_refusal
    elif best.is_original:  # a pair needs something better than the bad answer
        refusal = "original_best"
    else:
        refusal = pair_refusal(
            chosen=best, rejected=rejected, margin_threshold=config.margin, confirmed=None, require_confirmation=False
        )
    if refusal is None and config.confirm_pairs:
        key = pair_key(best.index, rejected.index)
        if key not in prefs:
            check_cancelled()
            prefs[key], _ = _pairwise(
                case, by_index[best.index], by_index[rejected.index], ledger=ledger, judgements=judgements
            )
        refusal = pair_refusal(
            chosen=best,
            rejected=rejected,
            margin_threshold=config.margin,
            confirmed=preference(prefs, best.index, rejected.index),
            require_confirmation=True,
        )
    outcome.pair_refusal = refusal or ""
    decided_by = "pointwise+pairwise" if prefs else "pointwise"
    with transaction.atomic():
        if not outcome.sft_refusal:
            _sft_create(case, by_index[best.index], score=best.score, decided_by=decided_by, ledger=ledger)
            outcome.sft = True
        if not outcome.pair_refusal:
            _pair_create(
                case,
                by_index[best.index],
                by_index[rejected.index],
                chosen_score=best.score,
                rejected_score=rejected.score,
                decided_by=decided_by,
                ledger=ledger,
            )
            outcome.pair = True
        return _finish(case, outcome, ledger=ledger)


def _review_payload(case: BadCase) -> dict:
    return {"bad_case_id": case.id, "reasons": sorted(case.reasons.values_list("source", flat=True))}


def _sft_create(case: BadCase, candidate: Candidate, *, score: float, decided_by: str, ledger: Ledger) -> None:
    sft, created = SftAnswer.objects.get_or_create(
        bad_case=case, defaults={"candidate": candidate, "score": score, "decided_by": decided_by, "run": ledger.run}
    )
    if sft.review_item_id is None:
        item = review_item_enqueue(
            kind="constructed_answer",
            subject_type="sft_answer",
            subject_id=str(sft.id),
            session_id=case.session_id,
            message_id=case.message_id,
            payload={**_review_payload(case), "score": score},
        )
        SftAnswer.objects.filter(id=sft.id).update(review_item_id=item.id)


def _pair_create(
    case: BadCase,
    chosen: Candidate,
    rejected: Candidate,
    *,
    chosen_score: float,
    rejected_score: float,
    decided_by: str,
    ledger: Ledger,
) -> None:
    pair, created = ConstructedPair.objects.get_or_create(
        bad_case=case,
        defaults={
            "chosen": chosen,
            "rejected": rejected,
            "chosen_score": chosen_score,
            "rejected_score": rejected_score,
            "margin": chosen_score - rejected_score,
            "decided_by": decided_by,
            "run": ledger.run,
        },
    )
    if pair.review_item_id is None:
        item = review_item_enqueue(
            kind="constructed_pair",
            subject_type="constructed_pair",
            subject_id=str(pair.id),
            session_id=case.session_id,
            message_id=case.message_id,
            payload={**_review_payload(case), "margin": pair.margin},
        )
        ConstructedPair.objects.filter(id=pair.id).update(review_item_id=item.id)


def _finish(case: BadCase, outcome: CaseOutcome, *, ledger: Ledger) -> CaseOutcome:
    notes = list(outcome.notes)
    notes.append("SFT answer made" if outcome.sft else f"no SFT answer: {REFUSAL_REASONS[outcome.sft_refusal]}")
    notes.append("pair kept" if outcome.pair else f"no pair: {REFUSAL_REASONS[outcome.pair_refusal]}")
    BadCase.objects.filter(id=case.id).update(
        status=BadCase.Status.DONE,
        run=ledger.run,
        sft_refusal=outcome.sft_refusal,
        pair_refusal=outcome.pair_refusal,
        account="; ".join(notes)[:5000],
        constructed_at=timezone.now(),
    )
    return outcome
