from __future__ import annotations

from django.db.models import Count, Q

from flywheel.ingest.models import ChatSession, Feedback, ImportFile, Message


def session_get(*, external_id: str) -> ChatSession | None:
    return ChatSession.objects.filter(external_id=external_id).first()


def session_transcript(*, session: ChatSession) -> list[dict]:
    """The session's messages in order, each with its feedback and alternatives."""
    messages = list(session.messages.order_by("seq", "id"))
    feedback = {}
    for item in Feedback.objects.filter(message__session=session).order_by("created_at"):
        feedback.setdefault(item.message_id, []).append(item)
    alternatives = {}
    for message in messages:
        if message.alternative_to_id:
            alternatives.setdefault(message.alternative_to_id, []).append(message)
    return [
        {"message": m, "feedback": feedback.get(m.id, []),
         "alternatives": [{"message": a, "feedback": feedback.get(a.id, [])} for a in alternatives.get(m.id, [])]}
        for m in messages
        if not m.alternative_to_id
    ]


def sessions_page(*, app: str = "", model_version: str = "", thumbs_down: bool = False,
                  before_id: int | None = None, size: int = 50) -> list[ChatSession]:
    """Newest first, paged by id (keyset), with message and thumbs-down counts for the page only."""
    qs = ChatSession.objects.all()
    if app:
        qs = qs.filter(app=app)
    if model_version:
        qs = qs.filter(model_version=model_version)
    if thumbs_down:
        qs = qs.filter(messages__feedback__rating=-1).distinct()
    if before_id:
        qs = qs.filter(id__lt=before_id)
    page = list(qs.order_by("-id")[:size])
    counts = {
        row["session_id"]: row
        for row in Message.objects.filter(session_id__in=[s.id for s in page], alternative_to__isnull=True)
        .values("session_id")
        .annotate(messages=Count("id"), thumbs_down=Count("feedback", filter=Q(feedback__rating=-1)))
    }
    for session in page:
        row = counts.get(session.id, {})
        session.message_total = row.get("messages", 0)
        session.thumbs_down_total = row.get("thumbs_down", 0)
    return page


def imports_recent(*, limit: int = 20) -> list[ImportFile]:
    return list(ImportFile.objects.select_related("job").order_by("-id")[:limit])
