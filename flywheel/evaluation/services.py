"""Evaluation sets, candidates' answers, judging and promotion (writes).

An evaluation set is immutable and content-addressed: the same items give the same set. An
evaluation stores every answer (keyed by item and candidate) and every judge verdict (keyed by
what determines it), so a killed worker's rerun finds what was done and pays nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from flywheel.accounts.services import audit_record
from flywheel.datasets.models import DatasetSample, DatasetVersion
from flywheel.evaluation.judging import judge_pairwise, judge_pointwise
from flywheel.evaluation.kinds import BLIND_AB, SUBJECT_TYPE
from flywheel.evaluation.models import CandidateAnswer, EvalItem, EvalSet, Evaluation, HumanComparison, RunPromotion
from flywheel.evaluation.scoring import DIMENSIONS
from flywheel.evaluation.summary import evaluation_summary
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create
from flywheel.llm.client import LLMUnavailable, chat_texts, llm_is_configured
from flywheel.review.services import review_item_enqueue
from flywheel.runs.conf import model_roots
from flywheel.runs.models import TrainingRun

logger = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant", "tool")
DEFAULT_TASK_TYPE = "default"
MAX_ITEMS = 20_000
# Candidates answered by `python -m training generate` on the gpu worker; endpoints answer over HTTP.
LOCAL_KINDS = ("run", "model")
GENERATE_JOB, JUDGE_JOB = "evaluation.generate", "evaluation.judge"


class EvalSetError(ValueError):
    """Items refused, with the line (or item) named."""


class CandidateError(ValueError):
    """A candidate spec that cannot be evaluated (unknown run, model outside the roots...)."""


class GenerationUnavailable(Exception):
    """The candidate could not answer now (endpoint down, trainer failed): wait and resume."""

    def __init__(self, message: str, *, retry_after_s: float = 30.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _sha256(value) -> str:
    return hashlib.sha256(
        json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()


def conversation_hash(messages: list[dict]) -> str:
    """Content hash of a conversation (roles and texts only), shared by eval items and the
    training samples they are checked against."""
    return _sha256([[message["role"], message["content"].strip()] for message in messages])


# --- evaluation sets ---------------------------------------------------------------------------


def eval_item_clean(record: object, where: str) -> dict:
    """{messages (context), reference, task_type} of one record in the trainer's format; the
    final assistant message is the reference."""
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise EvalSetError(f'{where}: expected an object with a "messages" list')
    messages = []
    for index, message in enumerate(record["messages"]):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise EvalSetError(f"{where}: message {index} needs a role among {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise EvalSetError(f"{where}: message {index} content must be a string")
        messages.append({"role": message["role"], "content": message["content"]})
    reference = ""
    if messages and messages[-1]["role"] == "assistant":
        reference = messages.pop()["content"]
    if not any(message["role"] == "user" for message in messages):
        raise EvalSetError(f"{where}: the item has no user turn to answer")
    task_type = record.get("task_type") or DEFAULT_TASK_TYPE
    if not isinstance(task_type, str) or len(task_type) > 64:
        raise EvalSetError(f"{where}: task_type must be a string of at most 64 characters")
    return {"messages": messages, "reference": reference, "task_type": task_type}


def eval_items_read(path: str | Path) -> list[dict]:
    """The records of a JSONL file in the trainer's format, each checked (errors name the line)."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"{path} does not exist")
    items = []
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise EvalSetError(f"line {line_number}: not valid JSON ({error.msg})") from error
            eval_item_clean(record, f"line {line_number}")  # refused here with its line number
            items.append(record)
            if len(items) > MAX_ITEMS:
                raise EvalSetError(f"more than {MAX_ITEMS} items")
    return items


def eval_set_create(
    *,
    name: str,
    items: list[dict],
    source: str,
    dataset_version=None,
    weights: dict | None = None,
    parent: EvalSet | None = None,
    user=None,
) -> tuple[EvalSet, bool]:
    """The set of these items (created, or the existing one with the same content). All items
    are written in one transaction: a refused item leaves nothing behind."""
    if not items:
        raise EvalSetError("an evaluation set needs at least one item")
    cleaned = [eval_item_clean(item, f"item {index + 1}") for index, item in enumerate(items)]
    content_hash = _sha256({"items": cleaned, "weights": weights or {}})
    existing = EvalSet.objects.filter(content_hash=content_hash).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            eval_set = EvalSet.objects.create(
                content_hash=content_hash,
                name=name[:120],
                source=source,
                dataset_version=dataset_version,
                item_count=len(cleaned),
                task_types=dict(Counter(item["task_type"] for item in cleaned)),
                weights=weights or {},
                parent=parent,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
            EvalItem.objects.bulk_create(
                [
                    EvalItem(
                        eval_set=eval_set,
                        position=position,
                        task_type=item["task_type"],
                        messages=item["messages"],
                        reference=item["reference"],
                        item_hash=conversation_hash(
                            item["messages"]
                            + ([{"role": "assistant", "content": item["reference"]}] if item["reference"] else [])
                        ),
                    )
                    for position, item in enumerate(cleaned)
                ]
            )
    except IntegrityError:  # the same content created concurrently
        return EvalSet.objects.get(content_hash=content_hash), False
    return eval_set, True


def eval_set_from_dataset_version(*, version_id: int, name: str = "", user=None) -> tuple[EvalSet, bool]:
    version = DatasetVersion.objects.get(id=version_id)
    samples = DatasetSample.objects.filter(
        version=version, split=DatasetSample.Split.EVAL, kind=DatasetSample.Kind.SFT
    ).order_by("position")
    items = [{"messages": sample.record["messages"], "task_type": sample.task_type} for sample in samples]
    if not items:
        raise EvalSetError(f"dataset version {version_id} has no SFT conversation in its eval split")
    return eval_set_create(
        name=name or f"eval split of v{version_id}",
        items=items,
        source="dataset_version",
        dataset_version=version,
        user=user,
    )


def training_matches(messages: list[dict], *, full: dict, prompt: dict) -> dict:
    """{key: "conversation" | "prompt"} for the keys of `full` (hashes of conversations ending in
    an answer) and `prompt` (hashes of contexts) that this training conversation holds: training on
    a conversation trains on every answer in it, so each assistant turn with the turns before it
    counts, not only the whole conversation."""
    found: dict = {}
    messages = [m for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)]
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        if (key := full.get(conversation_hash(messages[: index + 1]))) is not None:
            found[key] = "conversation"
        if (key := prompt.get(conversation_hash(messages[:index]))) is not None:
            found.setdefault(key, "prompt")
    return found


def eval_set_overlap(*, eval_set: EvalSet, dataset_version_ids: list[int]) -> list[dict]:
    """Items whose conversation, or whose prompt, is also in the train split of one of these
    versions (anywhere in a training conversation, up to one of its answers):
    [{"position", "version", "match": "conversation" | "prompt"}]."""
    if not dataset_version_ids:
        return []
    full = {item.item_hash: item.position for item in eval_set.items.all()}
    prompt = {conversation_hash(item.messages): item.position for item in eval_set.items.all()}
    overlap: dict[tuple[int, int], str] = {}
    samples = DatasetSample.objects.filter(
        version_id__in=dataset_version_ids, split=DatasetSample.Split.TRAIN, kind=DatasetSample.Kind.SFT
    ).values_list("version_id", "record")
    for version_id, record in samples.iterator(chunk_size=500):
        for position, match in training_matches(record.get("messages", []), full=full, prompt=prompt).items():
            if overlap.get((position, version_id)) != "conversation":
                overlap[(position, version_id)] = match
    return [
        {"position": position, "version": version_id, "match": match}
        for (position, version_id), match in sorted(overlap.items())
    ]


def overlap_warning(overlap: list[dict]) -> str:
    if not overlap:
        return ""
    named = ", ".join(
        f"item {row['position'] + 1} ({row['match']} in the train split of v{row['version']})" for row in overlap[:10]
    )
    more = f" and {len(overlap) - 10} more" if len(overlap) > 10 else ""
    return f"{len(overlap)} evaluation item(s) overlap training data: {named}{more}"


# --- candidates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    spec: str
    kind: str  # run, model or endpoint
    value: str
    model_dir: str = ""
    run_id: int | None = None

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.kind}:{self.model_dir or self.value}".encode()).hexdigest()


def candidate_parse(spec: str) -> Candidate:
    """run:<id> (the run's final model), model:<dir> (a base model or checkpoint under the model
    roots) or endpoint:<model> (a model on the configured OpenAI-compatible server)."""
    kind, _, value = (spec or "").partition(":")
    value = value.strip()
    if kind == "run":
        try:
            run = TrainingRun.objects.get(id=int(value))
        except (ValueError, TrainingRun.DoesNotExist):
            raise CandidateError(f"no training run {value!r}") from None
        final = (run.result or {}).get("final_model") or ""
        if not final or not Path(final).is_dir():
            raise CandidateError(f"run {run.id} has no final model yet (status {run.status})")
        return Candidate(
            spec=f"run:{run.id}", kind="run", value=str(run.id), model_dir=str(Path(final).resolve()), run_id=run.id
        )
    if kind == "model":
        path = Path(value).resolve()
        if not any(path == root.resolve() or root.resolve() in path.parents for root in model_roots()):
            raise CandidateError(f"{value} is outside the model roots (FLYWHEEL_MODEL_ROOTS, FLYWHEEL_RUNS_DIR)")
        if not (path / "config.json").is_file():
            raise CandidateError(f"{value} is not a Hugging Face model directory (no config.json)")
        return Candidate(spec=f"model:{path}", kind="model", value=str(path), model_dir=str(path))
    if kind == "endpoint":
        if not value:
            raise CandidateError("endpoint: needs a model name, e.g. endpoint:prod-chat")
        return Candidate(spec=f"endpoint:{value}", kind="endpoint", value=value)
    raise CandidateError(f"unknown candidate {spec!r}; use run:<id>, model:<dir> or endpoint:<model>")


def candidate_answers_ensure(
    *,
    candidate: Candidate,
    items: list[EvalItem],
    job_id: int | None = None,
    progress: Progress = progress_ignored,
) -> int:
    """Generate the answers this candidate has not given yet; returns how many were generated."""
    stored = set(
        CandidateAnswer.objects.filter(item__in=items, candidate_key=candidate.key).values_list("item_id", flat=True)
    )
    missing = [item for item in items if item.id not in stored]
    if not missing:
        return 0
    progress(0, len(items), f"{candidate.spec}: generating {len(missing)} answers")
    if candidate.kind == "endpoint":
        return _answers_from_endpoint(candidate, missing, job_id)
    return _answers_from_model(candidate, missing)


def _store_answer(
    candidate: Candidate,
    item: EvalItem,
    answer: str,
    new_tokens: int | None = None,
    reference_loss: float | None = None,
) -> None:
    CandidateAnswer.objects.bulk_create(
        [
            CandidateAnswer(
                item=item,
                candidate=candidate.spec,
                candidate_key=candidate.key,
                answer=answer,
                new_tokens=new_tokens,
                reference_loss=reference_loss,
            )
        ],
        ignore_conflicts=True,
    )


def _answers_from_endpoint(candidate: Candidate, items: list[EvalItem], job_id: int | None) -> int:
    for item in items:
        try:
            result = chat_texts(
                role="teacher",
                model=candidate.value,
                messages=item.messages,
                n=1,
                temperature=0.0,
                max_tokens=settings.FLYWHEEL_EVAL_MAX_NEW_TOKENS,
                job_id=job_id,
            )
        except LLMUnavailable as exc:
            raise GenerationUnavailable(
                f"{candidate.spec} is unavailable: {exc}", retry_after_s=exc.retry_after_s
            ) from exc
        _store_answer(candidate, item, (result.contents or [""])[0])  # each answer stored as it comes
    return len(items)


def _answers_from_model(candidate: Candidate, items: list[EvalItem]) -> int:
    """`python -m training generate` in its own process (torch stays out of the web side)."""
    with tempfile.TemporaryDirectory(prefix="flywheel-eval-") as scratch:
        data, output = Path(scratch) / "items.jsonl", Path(scratch) / "answers.jsonl"
        # The reference goes back in as the final assistant message: the trainer keeps it out of the
        # prompt and computes its loss.
        data.write_text(
            "".join(
                json.dumps(
                    {
                        "messages": item.messages
                        + ([{"role": "assistant", "content": item.reference}] if item.reference else []),
                        "task_type": item.task_type,
                    },
                    ensure_ascii=False,
                )
                + "\n"
                for item in items
            ),
            encoding="utf-8",
        )
        command = [
            settings.FLYWHEEL_TRAIN_PYTHON,
            "-m",
            "training",
            "generate",
            "--model",
            candidate.model_dir,
            "--data",
            str(data),
            "--output",
            str(output),
            "--max-new-tokens",
            str(settings.FLYWHEEL_EVAL_MAX_NEW_TOKENS),
            "--batch-size",
            str(settings.FLYWHEEL_EVAL_BATCH_SIZE),
            "--reference-loss",
        ]
        completed = subprocess.run(
            command,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
        if completed.returncode != 0:
            raise GenerationUnavailable(
                f"training generate failed ({completed.returncode}): {completed.stderr.strip()[-1000:]}"
            )
        answers = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(answers) != len(items):
        raise GenerationUnavailable(f"training generate wrote {len(answers)} answers for {len(items)} items")
    with transaction.atomic():
        for item, answer in zip(items, answers):
            _store_answer(candidate, item, answer["answer"], answer.get("new_tokens"), answer.get("reference_loss"))
    return len(items)


# --- evaluations -------------------------------------------------------------------------------


def evaluation_create(
    *,
    eval_set_id: int,
    candidate: str,
    baseline: str = "",
    judge_repeats: int = 1,
    mode: str = "judge",
    user=None,
    with_job: bool = True,
) -> Evaluation:
    """Check the candidates and the overlap with the compared runs' training splits, then create the
    evaluation and its first job: generation on the gpu queue when a candidate is a local model,
    else judging on the llm queue."""
    eval_set = EvalSet.objects.get(id=eval_set_id)
    if not 1 <= judge_repeats <= 10:
        raise ValueError("judge repeats must be between 1 and 10")
    if mode not in ("judge", "offline"):
        raise ValueError("mode is judge or offline")
    if mode == "judge" and not llm_is_configured():
        raise ValueError("no LLM is configured for the judge (OPENAI_BASE_URL); use the offline evaluator")
    parsed = candidate_parse(candidate)
    parsed_baseline = candidate_parse(baseline) if baseline else None
    if parsed_baseline and parsed_baseline.key == parsed.key:
        raise CandidateError("the baseline is the candidate itself")
    runs = [c.run_id for c in (parsed, parsed_baseline) if c and c.run_id]
    versions = list(TrainingRun.objects.filter(id__in=runs).values_list("dataset_version_id", flat=True))
    overlap = eval_set_overlap(eval_set=eval_set, dataset_version_ids=versions)
    if overlap:
        logger.warning(overlap_warning(overlap))
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            eval_set=eval_set,
            candidate=parsed.spec,
            baseline=parsed_baseline.spec if parsed_baseline else "",
            run_id=parsed.run_id,
            judge_repeats=judge_repeats,
            mode=mode,
            overlap=overlap,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        if with_job:
            # Local models answer on the gpu worker first; endpoints and the judge are LLM calls.
            local = any(c and c.kind in LOCAL_KINDS for c in (parsed, parsed_baseline))
            job = job_create(
                kind=GENERATE_JOB if local else JUDGE_JOB,
                payload={"evaluation_id": evaluation.id},
                created_by=user,
                total=eval_set.item_count,
            )
            Evaluation.objects.filter(id=evaluation.id).update(job=job)
            evaluation.job = job
    return evaluation


def evaluation_judging_enqueue(*, evaluation_id: int):
    """After the gpu job: the evaluation's judging job on the llm queue, created once (a rerun of
    the generation job finds it on the evaluation and creates no second one)."""
    with transaction.atomic():
        evaluation = (
            Evaluation.objects.select_for_update(of=("self",)).select_related("job", "eval_set").get(id=evaluation_id)
        )
        if evaluation.job is not None and evaluation.job.kind == JUDGE_JOB:
            return evaluation.job
        job = job_create(
            kind=JUDGE_JOB,
            payload={"evaluation_id": evaluation.id},
            created_by=evaluation.created_by,
            total=evaluation.eval_set.item_count,
        )
        Evaluation.objects.filter(id=evaluation.id).update(job=job)
    return job


def evaluation_execute(
    *,
    evaluation_id: int,
    job_id: int | None = None,
    progress: Progress = progress_ignored,
) -> dict:
    """The whole evaluation in the foreground (the command): the local models' answers, then
    judging. As jobs, the two halves run on their own queues."""
    evaluation_generate(evaluation_id=evaluation_id, progress=progress)
    return evaluation_judge(evaluation_id=evaluation_id, job_id=job_id, progress=progress)


def evaluation_generate(*, evaluation_id: int, progress: Progress = progress_ignored) -> int:
    """The answers of the candidates that are local models (a run's final model, a checkpoint, a
    base model), generated once by `python -m training generate`: the gpu half. Returns how many
    were generated now."""
    evaluation = Evaluation.objects.select_related("eval_set").get(id=evaluation_id)
    if evaluation.status == Evaluation.Status.DONE:
        return 0
    Evaluation.objects.filter(id=evaluation_id).update(status=Evaluation.Status.RUNNING, error="")
    items = list(evaluation.eval_set.items.all())
    generated = 0
    try:
        for spec in filter(None, (evaluation.candidate, evaluation.baseline)):
            parsed = candidate_parse(spec)
            if parsed.kind in LOCAL_KINDS:
                generated += candidate_answers_ensure(candidate=parsed, items=items, progress=progress)
    except GenerationUnavailable as exc:
        Evaluation.objects.filter(id=evaluation_id).update(status=Evaluation.Status.WAITING, error=str(exc)[:2000])
        raise
    return generated


def evaluation_judge(
    *,
    evaluation_id: int,
    job_id: int | None = None,
    progress: Progress = progress_ignored,
) -> dict:
    """Endpoint candidates' answers (generated once), verdicts (asked once), then the summary: the
    LLM half. Raises GenerationUnavailable or LLMUnavailable when a server is down: the job waits
    and resumes where it stopped."""
    evaluation = Evaluation.objects.select_related("eval_set").get(id=evaluation_id)
    if evaluation.status == Evaluation.Status.DONE:
        return evaluation.summary
    Evaluation.objects.filter(id=evaluation_id).update(status=Evaluation.Status.RUNNING, error="")
    items = list(evaluation.eval_set.items.all())
    candidate = candidate_parse(evaluation.candidate)
    baseline = candidate_parse(evaluation.baseline) if evaluation.baseline else None
    try:
        for each in filter(None, (candidate, baseline)):
            if each.kind in LOCAL_KINDS:
                # Generated by the gpu half; the llm worker never loads a model.
                _local_answers_check(each, items)
            else:
                candidate_answers_ensure(candidate=each, items=items, job_id=job_id, progress=progress)
        if evaluation.mode == "judge":
            answers = {
                a.item_id: a for a in CandidateAnswer.objects.filter(item__in=items, candidate_key=candidate.key)
            }
            others = (
                {a.item_id: a for a in CandidateAnswer.objects.filter(item__in=items, candidate_key=baseline.key)}
                if baseline
                else {}
            )
            dimensions = list(DIMENSIONS)
            for done, item in enumerate(items, start=1):
                for answer in filter(None, (answers.get(item.id), others.get(item.id))):
                    for repeat in range(evaluation.judge_repeats):
                        judge_pointwise(item=item, answer=answer, dimensions=dimensions, repeat=repeat, job_id=job_id)
                if baseline:
                    for order in ("AB", "BA"):
                        judge_pairwise(
                            item=item, answer=answers[item.id], other=others[item.id], order=order, job_id=job_id
                        )
                progress(done, len(items), f"judged {done}/{len(items)}")
    except (GenerationUnavailable, LLMUnavailable) as exc:
        Evaluation.objects.filter(id=evaluation_id).update(status=Evaluation.Status.WAITING, error=str(exc)[:2000])
        raise
    summary = evaluation_summary(
        evaluation, candidate_key=candidate.key, baseline_key=baseline.key if baseline else None
    )
    summary["overlap"] = overlap_warning(evaluation.overlap)
    Evaluation.objects.filter(id=evaluation_id).update(
        status=Evaluation.Status.DONE, summary=summary, finished_at=timezone.now()
    )
    return summary


def _local_answers_check(candidate: Candidate, items: list[EvalItem]) -> None:
    answered = CandidateAnswer.objects.filter(item__in=items, candidate_key=candidate.key).count()
    if answered < len(items):
        raise CandidateError(
            f"{candidate.spec} answered {answered} of {len(items)} items: its generation job did not finish"
        )


def evaluation_fail(*, evaluation_id: int, error: str) -> None:
    Evaluation.objects.filter(id=evaluation_id).update(status=Evaluation.Status.FAILED, error=error[:2000])


# --- promotion ---------------------------------------------------------------------------------


class PromotionRefused(Exception):
    def __init__(self, message: str, *, regressions: dict):
        super().__init__(message)
        self.regressions = regressions


def promotion_regressions(evaluation: Evaluation, *, threshold: float) -> dict:
    """{task_type: drop} where the candidate's usability is below the baseline's by more than the
    threshold (1-10 scale), or where it lost more than it won in that task type."""
    summary = evaluation.summary or {}
    drops = {}
    for task_type, value in (summary.get("usability") or {}).items():
        before = (summary.get("baseline_usability") or {}).get(task_type)
        if value is not None and before is not None and before - value > threshold:
            drops[task_type] = round(before - value, 4)
    return drops


def run_promote(*, run_id: int, user, override: bool = False, note: str = "") -> RunPromotion:
    """Promote a run after a finished evaluation of it; refused when a task type regresses beyond
    FLYWHEEL_EVAL_REGRESSION_THRESHOLD unless ops override it (audited either way)."""
    evaluation = (
        Evaluation.objects.filter(run_id=run_id, status=Evaluation.Status.DONE).order_by("-finished_at", "-id").first()
    )
    if evaluation is None:
        raise PromotionRefused(f"run {run_id} has no finished evaluation: evaluate it first", regressions={})
    regressions = promotion_regressions(evaluation, threshold=settings.FLYWHEEL_EVAL_REGRESSION_THRESHOLD)
    if regressions and not override:
        raise PromotionRefused(
            "promotion refused, task types regress: "
            + ", ".join(f"{name} (−{drop})" for name, drop in sorted(regressions.items())),
            regressions=regressions,
        )
    with transaction.atomic():
        promotion, _ = RunPromotion.objects.update_or_create(
            run_id=run_id,
            defaults={
                "evaluation": evaluation,
                "overridden": bool(regressions and override),
                "regressions": regressions,
                "note": note[:2000],
                "promoted_by": user,
            },
        )
        audit_record(
            actor=user,
            action="run.promote" + (".override" if promotion.overridden else ""),
            target_type="training_run",
            target_id=run_id,
            detail={"evaluation": evaluation.id, "regressions": regressions, "note": note[:500]},
        )
    return promotion


def candidate_parse_key(spec: str) -> str | None:
    """The stored-answer key of a candidate spec as the evaluation recorded it (no checks)."""
    if not spec:
        return None
    kind, _, value = spec.partition(":")
    if kind == "run":
        run = TrainingRun.objects.filter(id=int(value)).first() if value.isdigit() else None
        final = ((run.result or {}).get("final_model") or "") if run else ""
        return Candidate(spec=spec, kind=kind, value=value, model_dir=str(Path(final).resolve()) if final else "").key
    return Candidate(spec=spec, kind=kind, value=value, model_dir=value if kind == "model" else "").key


# --- human blind A/B -----------------------------------------------------------------------------


def evaluation_human_review_enqueue(*, evaluation_id: int, limit: int | None = None) -> int:
    """Put the evaluation's items that have both answers up for blind A/B review (idempotent);
    the order shown is drawn here, per item, and stored out of the reviewer's sight."""
    evaluation = Evaluation.objects.get(id=evaluation_id)
    if not evaluation.baseline:
        raise CandidateError("a blind A/B review needs an evaluation with a baseline")
    both = set(
        CandidateAnswer.objects.filter(
            item__eval_set=evaluation.eval_set, candidate_key=candidate_parse_key(evaluation.candidate)
        ).values_list("item_id", flat=True)
    ) & set(
        CandidateAnswer.objects.filter(
            item__eval_set=evaluation.eval_set, candidate_key=candidate_parse_key(evaluation.baseline)
        ).values_list("item_id", flat=True)
    )
    enqueued = 0
    for item in evaluation.eval_set.items.filter(id__in=both).order_by("position")[:limit]:
        with transaction.atomic():
            comparison, _ = HumanComparison.objects.get_or_create(
                evaluation=evaluation, item=item, defaults={"candidate_first": bool(secrets.randbelow(2))}
            )
            review_item_enqueue(
                kind=BLIND_AB.name,
                subject_type=SUBJECT_TYPE,
                subject_id=str(comparison.id),
                payload={"task_type": item.task_type},
            )
        enqueued += 1
    return enqueued
