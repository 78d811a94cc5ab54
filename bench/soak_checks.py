"""What bench/soak.py verifies once the system has settled, read from the database (Django
must be set up on the soak's own cluster before this module is imported).

- every event a client got a success for is stored exactly once, and nothing else of the run;
- no job is queued or running; failed and dead jobs carry their reason;
- every session went through every stage exactly once: cleaned up to its last message, one
  label, one continuity pass up to its last message, one bad case per thumbs-down answer, one
  review item per bad case and per low-quality label.
"""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.db.models import Count, Max

from flywheel.cleaning.models import SessionCleaning
from flywheel.cleaning.models import Status as CleaningStatus
from flywheel.cleaning.selectors import sessions_ready_for_labeling
from flywheel.construction.models import BadCase
from flywheel.continuity.models import SessionContinuity
from flywheel.continuity.services import continuity_model_active
from flywheel.ingest.models import ChatSession, Feedback, Message
from flywheel.jobs.models import Job
from flywheel.labeling.models import Label, LabelTask
from flywheel.review.models import ReviewItem


def _duplicates(rows) -> list:
    return [key for key, n in Counter(rows).items() if n > 1]


def events_check(events) -> dict:
    """Against the clients' own log: acknowledged events stored once; nothing stored that no
    client sent; retried events stored once."""
    prefix_sessions = {e.session for e in events.values()}
    stored_messages = list(
        Message.objects.filter(session__external_id__in=prefix_sessions).values_list("external_id", flat=True)
    )
    stored_feedback = list(
        Feedback.objects.filter(message__session__external_id__in=prefix_sessions).values_list("external_id", flat=True)
    )
    stored = Counter(stored_messages) + Counter(stored_feedback)
    acked = {i for i, e in events.items() if e.acked}
    retried = {i for i, e in events.items() if e.attempts > 1}
    lost = sorted(i for i in acked if stored[i] == 0)
    duplicated = sorted(i for i, n in stored.items() if n > 1)
    unknown = sorted(i for i in stored if i not in events)
    # Transcript order: each session's messages, by position, are its turns in the order sent.
    misordered = []
    for sid in prefix_sessions:
        ids = list(
            Message.objects.filter(session__external_id=sid, alternative_to__isnull=True)
            .order_by("seq")
            .values_list("external_id", flat=True)
        )
        if ids != sorted(ids, key=lambda x: (int(x.split("-t")[-1].split("-")[0]), x.endswith("-a"))):
            misordered.append(sid)
    return {
        "acked": len(acked),
        "retried": len(retried),
        "retried_stored_once": sum(1 for i in retried if stored[i] == 1),
        "unacked": sorted(i for i, e in events.items() if not e.acked),
        "rejected": sorted(i for i, e in events.items() if e.rejected),
        "lost": lost,
        "duplicated": duplicated,
        "unknown": unknown,
        "misordered": misordered,
    }


def jobs_check() -> dict:
    active = list(Job.objects.filter(status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).values("id", "kind", "status"))
    unexplained = list(
        Job.objects.filter(status__in=(Job.Status.FAILED, Job.Status.DEAD), error="").values_list("id", flat=True)
    )
    by_status = dict(Job.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {"stuck": active, "failed_without_reason": unexplained, "by_status": by_status}


def pipeline_check(session_external_ids: set[str]) -> dict:
    """Gaps (a stage missed a session or a turn) and duplicates (a stage did it twice)."""
    sessions = dict(ChatSession.objects.filter(external_id__in=session_external_ids).values_list("id", "external_id"))
    ids = set(sessions)
    last_message = dict(
        Message.objects.filter(session_id__in=ids)
        .values("session_id")
        .annotate(m=Max("id"))
        .values_list("session_id", "m")
    )
    gaps: dict[str, list] = {}
    dups: dict[str, list] = {}

    cleaned = dict(SessionCleaning.objects.filter(session_id__in=ids).values_list("session_id", "last_message_id"))
    gaps["cleaning"] = sorted(sessions[s] for s in ids if cleaned.get(s, -1) < last_message.get(s, 0))
    ready = set(sessions_ready_for_labeling(limit=None).filter(id__in=ids).values_list("id", flat=True))

    labels = Counter(
        Label.objects.filter(session_id__in=ids).exclude(source=Label.Source.HUMAN).values_list("session_id", flat=True)
    )
    gaps["labels"] = sorted(sessions[s] for s in ready if labels[s] == 0)
    dups["labels"] = sorted(sessions[s] for s, n in labels.items() if n > 1)
    unfinished = LabelTask.objects.filter(session_id__in=ids).exclude(status=LabelTask.Status.DONE)
    gaps["label_tasks"] = sorted(sessions[s] for s in unfinished.values_list("session_id", flat=True))

    version = continuity_model_active().version
    seen = list(
        SessionContinuity.objects.filter(session_id__in=ids, model_version=version).values_list(
            "session_id", "last_message_id"
        )
    )
    dups["continuity"] = sorted(sessions[s] for s in _duplicates(s for s, _ in seen))
    predicted = dict(seen)
    gaps["continuity"] = sorted(sessions[s] for s in ready if predicted.get(s, -1) < last_message.get(s, 0))

    dropped = set(
        SessionCleaning.objects.filter(session_id__in=ids, status=CleaningStatus.DROPPED).values_list(
            "session_id", flat=True
        )
    )
    thumbs_down = set(
        Feedback.objects.filter(
            message__session_id__in=ids - dropped, rating=-1, message__role="assistant"
        ).values_list("message_id", flat=True)
    )
    bad_cases = Counter(BadCase.objects.filter(session_id__in=ids).values_list("message_id", flat=True))
    gaps["bad_cases"] = sorted(m for m in thumbs_down if bad_cases[m] == 0)
    dups["bad_cases"] = sorted(m for m, n in bad_cases.items() if n > 1)

    items = Counter(
        ReviewItem.objects.filter(session_id__in=ids).values_list("queue_id", "kind", "subject_type", "subject_id")
    )
    dups["review_items"] = sorted(str(key) for key, n in items.items() if n > 1)
    answer_items = Counter(
        int(subject)
        for (_, kind, stype, subject) in items.elements()
        if kind == "badcase_answer" and stype == "message"
    )
    gaps["review_badcase_answers"] = sorted(m for m in thumbs_down if answer_items[m] == 0)
    low = set(
        Label.objects.filter(session_id__in=ids, quality__lt=settings.FLYWHEEL_LABEL_REVIEW_BELOW)
        .exclude(source=Label.Source.HUMAN)
        .values_list("id", flat=True)
    )
    label_items = Counter(
        int(subject) for (_, kind, stype, subject) in items.elements() if kind == "label" and stype == "label"
    )
    gaps["review_low_quality_labels"] = sorted(label_id for label_id in low if label_items[label_id] == 0)
    return {
        "sessions": len(ids),
        "ready": len(ready),
        "dropped": len(dropped),
        "gaps": {k: v for k, v in gaps.items() if v},
        "duplicates": {k: v for k, v in dups.items() if v},
    }
