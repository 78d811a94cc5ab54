"""Labeling: LLM labels through the work queue (LabelTask), offline labels inline, human labels
from review.

Flow with an LLM configured: the pipeline stage adds a LabelTask for each session ready for
labeling that has none for the current (prompt version, model), then hands pending tasks to
`labeling.label_batch` jobs on the `llm` queue. A job labels each of its tasks that is not done
yet; the label and the task's "done" are written in one transaction, and labels are unique per
(session, prompt version, model), so a worker killed mid-batch loses nothing and doubles
nothing: the re-run skips what is done, and answers already paid for come from the cache.
Without an LLM, the offline labeler labels the same sessions inline; a task type it is unsure of
is stored as uncertain and goes to label review (routing.py).

Only scrubbed text leaves: transcripts come from cleaning's `message_texts_for_llm`, and a
session with any message that could not be scrubbed is dead-lettered, never sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q

from flywheel.cleaning.selectors import sessions_ready_for_labeling
from flywheel.cleaning.services import message_texts_for_llm
from flywheel.ingest.models import ChatSession, Feedback, Message
from flywheel.jobs.models import Job
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create
from flywheel.labeling.injection import steering_signals
from flywheel.labeling.models import Label, LabelTask
from flywheel.labeling.offline import OFFLINE_VERSION, label_offline, offline_model_name
from flywheel.labeling.prompts import PROMPT_VERSION, SCORE_DIMENSIONS, label_messages, output_schema, prompt_language
from flywheel.labeling.taxonomy import taxonomy
from flywheel.llm.client import LLMInvalidOutput, chat_json, llm_is_configured, model_for

logger = logging.getLogger(__name__)
PAGE = 500


# --- transcripts -------------------------------------------------------------------------------


def session_transcripts(*, session_ids: list[int]) -> dict[int, dict]:
    """{session id: {"messages": [{"id", "role", "content"}], "unscrubbed": [message ids],
    "language", "thumbs_down", "thumbs_up"}} with PII-scrubbed content only."""
    rows = list(
        Message.objects.filter(session_id__in=session_ids, alternative_to__isnull=True)
        .order_by("session_id", "seq")
        .values("id", "session_id", "role", "content")
    )
    texts = message_texts_for_llm(message_ids=[r["id"] for r in rows])
    feedback = dict.fromkeys(session_ids)
    for row in (
        Feedback.objects.filter(message__session_id__in=session_ids, message__alternative_to__isnull=True)
        .values("message__session_id")
        .annotate(down=Count("id", filter=Q(rating=-1)), up=Count("id", filter=Q(rating=1)))
    ):
        feedback[row["message__session_id"]] = row
    languages = dict(
        ChatSession.objects.filter(id__in=session_ids, cleaning__isnull=False).values_list("id", "cleaning__language")
    )
    out = {
        sid: {
            "messages": [],
            "unscrubbed": [],
            "language": languages.get(sid) or "",
            "thumbs_down": (feedback.get(sid) or {}).get("down", 0),
            "thumbs_up": (feedback.get(sid) or {}).get("up", 0),
        }
        for sid in session_ids
    }
    for row in rows:
        entry = out[row["session_id"]]
        if row["id"] not in texts:
            entry["unscrubbed"].append(row["id"])
            continue
        entry["messages"].append({"id": row["id"], "role": row["role"], "content": texts[row["id"]]})
    return out


def _fit(messages: list[dict], max_chars: int) -> list[dict]:
    """Keep the start and the end of a long transcript, and say where it was cut."""
    total = sum(len(m["content"]) for m in messages)
    if total <= max_chars:
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    budget = max_chars // max(1, len(messages))
    return [
        {
            "role": m["role"],
            "content": m["content"]
            if len(m["content"]) <= budget
            else m["content"][: budget // 2] + " […cut…] " + m["content"][-budget // 2 :],
        }
        for m in messages
    ]


def _content_hash(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _quality(scores: dict) -> int:
    return max(1, min(5, int(sum(scores[d] for d in SCORE_DIMENSIONS) / len(SCORE_DIMENSIONS) + 0.5)))


# --- LLM labeling: tasks -----------------------------------------------------------------------


def current_llm_version() -> tuple[str, str]:
    return PROMPT_VERSION, model_for("label")


def label_tasks_create_pending(*, limit: int | None = None, app: str | None = None) -> int:
    """Add a pending task for each session ready for labeling that has none for the current
    prompt version and model. Idempotent (unique constraint, conflicts ignored)."""
    version, model = current_llm_version()
    has_task = LabelTask.objects.filter(session=OuterRef("pk"), prompt_version=version, model=model)
    created, after = 0, 0
    while limit is None or created < limit:
        size = PAGE if limit is None else min(PAGE, limit - created)
        ids = list(
            sessions_ready_for_labeling(limit=None, app=app)
            .filter(id__gt=after)
            .filter(~Exists(has_task))
            .values_list("id", flat=True)[:size]
        )
        if not ids:
            break
        LabelTask.objects.bulk_create(
            [LabelTask(session_id=sid, prompt_version=version, model=model) for sid in ids], ignore_conflicts=True
        )
        created += len(ids)
        after = ids[-1]
    return created


def label_tasks_dispatch(*, created_by=None, limit: int | None = None) -> list[int]:
    """Hand pending tasks to labeling jobs, a batch per job; returns the job ids."""
    job_ids = []
    handed = 0
    while limit is None or handed < limit:
        with transaction.atomic():
            size = settings.FLYWHEEL_LABEL_BATCH_SIZE
            size = size if limit is None else min(size, limit - handed)
            batch = list(
                LabelTask.objects.select_for_update(skip_locked=True)
                .filter(status=LabelTask.Status.PENDING)
                .order_by("id")
                .values_list("id", flat=True)[:size]
            )
            if not batch:
                break
            job = job_create(
                kind="labeling.label_batch", payload={"task_ids": batch}, created_by=created_by, total=len(batch)
            )
            LabelTask.objects.filter(id__in=batch, status=LabelTask.Status.PENDING).update(
                status=LabelTask.Status.QUEUED, job=job
            )
        job_ids.append(job.id)
        handed += len(batch)
    return job_ids


def _dead_letter(task: LabelTask, *, error: str, answers: list[str] | None = None, job_id: int | None) -> None:
    LabelTask.objects.filter(id=task.id).exclude(status=LabelTask.Status.DONE).update(
        status=LabelTask.Status.DEAD,
        error=error[:5000],
        answers=[a[:4000] for a in (answers or [])][:3],
        job_id=job_id,
        dead_attempts=task.dead_attempts + 1,
    )


def label_task_process(*, task_id: int, job_id: int | None = None) -> str:
    """Label one task's session with the LLM. Returns "labelled", "done" (nothing to do) or
    "dead". Raises LLMUnavailable when the server keeps failing (the job retries later)."""
    task = LabelTask.objects.filter(id=task_id).first()
    if task is None or task.status == LabelTask.Status.DONE:
        return "done"
    if Label.objects.filter(session_id=task.session_id, prompt_version=task.prompt_version, model=task.model).exists():
        LabelTask.objects.filter(id=task.id).update(status=LabelTask.Status.DONE, error="")
        return "done"
    transcript = session_transcripts(session_ids=[task.session_id])[task.session_id]
    if transcript["unscrubbed"]:
        _dead_letter(
            task,
            job_id=job_id,
            error=(
                f"personal data could not be scrubbed from {len(transcript['unscrubbed'])} message(s); "
                f"nothing was sent. Fix the text (or the scrubber) and re-drive."
            ),
        )
        return "dead"
    if not any(m["role"] == "user" for m in transcript["messages"]):
        _dead_letter(task, job_id=job_id, error="the session has no user message to label")
        return "dead"
    tax = taxonomy()
    sent = _fit(transcript["messages"], settings.FLYWHEEL_LABEL_MAX_CHARS)
    language = transcript["language"] or ""

    def taxonomy_rule(data: dict) -> None:
        tax.check(data["task_type"], data["task_subtype"])

    try:
        result = chat_json(
            role="label",
            messages=label_messages(transcript=sent, language=language, taxonomy=tax),
            schema=output_schema(tax),
            prompt_version=task.prompt_version,
            job_id=job_id,
            validate=taxonomy_rule,
        )
    except LLMInvalidOutput as exc:
        _dead_letter(task, job_id=job_id, error=str(exc), answers=exc.answers)
        return "dead"
    data = result.data
    signals = steering_signals([m["content"] for m in sent])
    if data.get("steering_attempt"):
        signals.append({"signal": "labeler:steering_attempt", "excerpt": str(data.get("reason", ""))[:120]})
    scores = data["scores"]
    with transaction.atomic():
        Label.objects.get_or_create(
            session_id=task.session_id,
            prompt_version=task.prompt_version,
            model=result.model,
            defaults=dict(
                source=Label.Source.LLM,
                prompt_language=prompt_language(language),
                taxonomy_version=tax.version,
                task_type=data["task_type"],
                task_subtype=data["task_subtype"],
                language=data["language"],
                difficulty=data["difficulty"],
                quality=_quality(scores),
                **{d: int(scores[d]) for d in SCORE_DIMENSIONS},
                hallucination=bool(data["hallucination"]),
                safety_flag=bool(data["safety_flag"]),
                usable=bool(data["usable"]) and not signals,
                reason=str(data.get("reason", ""))[:2000],
                trusted=not signals,
                injection_flagged=bool(signals),
                injection_signals=signals,
                content_hash=_content_hash(sent),
                raw=data,
                job_id=job_id,
            ),
        )
        LabelTask.objects.filter(id=task.id).update(status=LabelTask.Status.DONE, error="", answers=[])
    return "labelled"


def _process_in_thread(task_id: int, job_id: int | None) -> str:
    close_old_connections()
    try:
        return label_task_process(task_id=task_id, job_id=job_id)
    finally:
        connection.close()


def label_tasks_run(*, task_ids: list[int], job_id: int | None = None, progress: Progress = progress_ignored) -> dict:
    """Process tasks, up to FLYWHEEL_LLM_CONCURRENCY at once (one at a time inside a transaction,
    whose rows other threads' connections could not see)."""
    counts = {"labelled": 0, "done": 0, "dead": 0}
    workers = min(settings.FLYWHEEL_LLM_CONCURRENCY, len(task_ids))
    if workers <= 1 or connection.in_atomic_block:
        for index, task_id in enumerate(task_ids):
            counts[label_task_process(task_id=task_id, job_id=job_id)] += 1
            progress(index + 1, len(task_ids), f"{index + 1}/{len(task_ids)} sessions")
        return counts
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labeling") as pool:
        futures = [pool.submit(_process_in_thread, task_id, job_id) for task_id in task_ids]
        first_error = None
        for index, future in enumerate(futures):
            try:
                counts[future.result()] += 1
            except Exception as exc:  # finish the others (their work is kept), then re-raise
                first_error = first_error or exc
            progress(index + 1, len(task_ids), f"{index + 1}/{len(task_ids)} sessions")
    if first_error is not None:
        raise first_error
    return counts


def stuck_label_tasks():
    """Queued tasks whose job ended without finishing them (dead, failed or cancelled job)."""
    return LabelTask.objects.filter(status=LabelTask.Status.QUEUED).filter(
        Q(job__isnull=True) | Q(job__status__in=[Job.Status.DEAD, Job.Status.FAILED, Job.Status.CANCELLED])
    )


def label_tasks_redrive(*, task_ids: list[int] | None = None, created_by=None) -> dict:
    """Put dead tasks (all, or these), and tasks stuck under a job that ended, back to pending
    and dispatch them."""
    dead = LabelTask.objects.filter(status=LabelTask.Status.DEAD)
    stuck = stuck_label_tasks()
    if task_ids is not None:
        dead, stuck = dead.filter(id__in=task_ids), stuck.filter(id__in=task_ids)
    count = dead.update(status=LabelTask.Status.PENDING, job=None)
    count += LabelTask.objects.filter(id__in=list(stuck.values_list("id", flat=True))).update(
        status=LabelTask.Status.PENDING, job=None
    )
    jobs = label_tasks_dispatch(created_by=created_by) if count else []
    return {"redriven": count, "jobs": jobs}


# --- offline labeling --------------------------------------------------------------------------


def labels_store_offline(*, session_ids: list[int]) -> int:
    """Offline labels for these sessions (those that have none yet); returns how many were added."""
    model = offline_model_name()
    done = set(
        Label.objects.filter(session_id__in=session_ids, prompt_version=OFFLINE_VERSION, model=model).values_list(
            "session_id", flat=True
        )
    )
    todo = [sid for sid in session_ids if sid not in done]
    if not todo:
        return 0
    transcripts = session_transcripts(session_ids=todo)
    tax = taxonomy()
    ordered = [sid for sid in todo if transcripts[sid]["messages"]]
    results = label_offline([transcripts[sid] for sid in ordered], taxonomy=tax)
    rows = []
    for sid, result in zip(ordered, results):
        rows.append(
            Label(
                session_id=sid,
                source=Label.Source.OFFLINE,
                prompt_version=OFFLINE_VERSION,
                model=model,
                taxonomy_version=tax.version,
                task_type=result.task_type,
                task_subtype=result.task_subtype,
                confidence=result.confidence,
                uncertain=result.uncertain,
                language=result.language,
                difficulty=result.difficulty,
                quality=result.quality,
                **result.scores,
                hallucination=result.hallucination,
                safety_flag=result.safety_flag,
                usable=result.usable and not result.injection_signals,
                reason=result.reason,
                trusted=not result.injection_signals,
                injection_flagged=bool(result.injection_signals),
                injection_signals=result.injection_signals,
                raw=result.raw,
                content_hash=_content_hash(
                    [{"role": m["role"], "content": m["content"]} for m in transcripts[sid]["messages"]]
                ),
            )
        )
    return len(Label.objects.bulk_create(rows, ignore_conflicts=True))


def labeling_offline_pending(*, progress: Progress = progress_ignored, limit: int | None = None) -> dict:
    model = offline_model_name()
    has_label = Label.objects.filter(session=OuterRef("pk"), prompt_version=OFFLINE_VERSION, model=model)
    labelled, after, seen = 0, 0, 0
    while limit is None or seen < limit:
        size = 256 if limit is None else min(256, limit - seen)
        ids = list(
            sessions_ready_for_labeling(limit=None)
            .filter(id__gt=after)
            .filter(~Exists(has_label))
            .values_list("id", flat=True)[:size]
        )
        if not ids:
            break
        labelled += labels_store_offline(session_ids=ids)
        seen += len(ids)
        after = ids[-1]
        progress(labelled, None, f"offline labels: {labelled}")
    return {"mode": "offline", "labelled": labelled}


# --- the pipeline stage and the foreground command ----------------------------------------------


def labeling_run_pending(*, progress: Progress = progress_ignored) -> dict:
    """What the pipeline stage does: queue LLM labeling jobs, or label offline inline."""
    if not llm_is_configured():
        return labeling_offline_pending(progress=progress)
    created = label_tasks_create_pending()
    jobs = label_tasks_dispatch()
    return {"mode": "llm", "tasks_created": created, "jobs_queued": len(jobs)}


def labeling_foreground(*, limit: int, offline: bool = False, progress: Progress = progress_ignored) -> dict:
    """Label up to `limit` pending sessions in this process (the `label` command)."""
    if offline or not llm_is_configured():
        return labeling_offline_pending(progress=progress, limit=limit)
    label_tasks_create_pending(limit=limit)
    version, model = current_llm_version()
    task_ids = list(
        LabelTask.objects.filter(status=LabelTask.Status.PENDING, prompt_version=version, model=model)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    counts = label_tasks_run(task_ids=task_ids, progress=progress)
    return {"mode": "llm", "model": model, "prompt_version": version, **counts}


# --- human labels (from review) ----------------------------------------------------------------


def label_human_record(*, session_id: int, decision: dict, user, based_on: Label | None = None) -> Label:
    """Store a reviewer's label for a session (one per session: a later decision replaces it).
    Fields the reviewer did not set are taken from the label that was reviewed."""
    base = based_on
    task_type = decision.get("task_type") or (base.task_type if base else "")
    quality = int(decision.get("quality") or (base.quality if base else 3))
    usable = decision.get("usable")
    usable = (usable == "yes") if usable in ("yes", "no") else (base.usable if base else quality >= 3)
    subtype = base.task_subtype if base and base.task_type == task_type else ""
    label, _ = Label.objects.update_or_create(
        session_id=session_id,
        prompt_version="review",
        model="human",
        defaults=dict(
            source=Label.Source.HUMAN,
            task_type=task_type,
            task_subtype=subtype,
            quality=quality,
            usable=usable,
            language=base.language if base else "",
            difficulty=base.difficulty if base else "",
            hallucination=base.hallucination if base else False,
            safety_flag=base.safety_flag if base else False,
            reason=str(decision.get("note", ""))[:2000],
            trusted=True,
            injection_flagged=False,
            injection_signals=[],
            taxonomy_version=taxonomy().version,
            raw={
                "decision": decision,
                "reviewer": getattr(user, "username", ""),
                "reviewed_label_id": base.id if base else None,
                "steering_confirmed": decision.get("steering") == "yes",
            },
        ),
    )
    return label
