from __future__ import annotations

from django.db.models import Count, Q

from flywheel.accounts.roles import ENGINEERS, user_has_any_role
from flywheel.ingest.models import ChatSession, Feedback, ImportFile, Message
from flywheel.ingest.panels import session_access_granted, session_text_shield
from flywheel.ui.paging import KeysetPage, keyset_page


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
        {
            "message": m,
            "feedback": feedback.get(m.id, []),
            "alternatives": [{"message": a, "feedback": feedback.get(a.id, [])} for a in alternatives.get(m.id, [])],
        }
        for m in messages
        if not m.alternative_to_id
    ]


def session_visible_to(*, session: ChatSession, user) -> bool:
    """Engineers and admins see every session; anyone else only a session an app granted them
    (review: a session of an item given to them). Ops have no door to session pages at all."""
    return user_has_any_role(user, ENGINEERS) or session_access_granted(user=user, session=session)


def session_texts_attach(*, turns: list[dict], pairs: list, originals: bool) -> None:
    """Put the text each reader may see on the transcript: `turn["text"]` (and each
    alternative's), `feedback.shown_comment`, `pair.chosen_text` / `pair.rejected_text`. With
    `originals`, the stored text; without, the text shield's (None where a text is hidden)."""
    messages = [t["message"] for t in turns] + [a["message"] for t in turns for a in t["alternatives"]]
    messages += [m for pair in pairs for m in (pair.chosen, pair.rejected)]
    shield = session_text_shield()
    if originals:
        shown = {m.id: m.content for m in messages}
    else:
        shown = shield.messages(sorted({m.id for m in messages}))

    def comment(value: str):
        return value if originals or not value else shield.text(value)

    for turn in turns:
        for entry in [turn, *turn["alternatives"]]:
            entry["text"] = shown.get(entry["message"].id)
            for feedback in entry["feedback"]:
                feedback.shown_comment = comment(feedback.comment)
    for pair in pairs:
        pair.chosen_text, pair.rejected_text = shown.get(pair.chosen.id), shown.get(pair.rejected.id)


def sessions_page(
    *, app: str = "", model_version: str = "", thumbs_down: bool = False, before_id: int | None = None, size: int = 50
) -> KeysetPage:
    """Newest first, paged by id (keyset), with message and thumbs-down counts for the page only."""
    qs = ChatSession.objects.all()
    if app:
        qs = qs.filter(app=app)
    if model_version:
        qs = qs.filter(model_version=model_version)
    if thumbs_down:
        qs = qs.filter(messages__feedback__rating=-1).distinct()
    page = keyset_page(qs, past=before_id, size=size)
    counts = {
        row["session_id"]: row
        for row in Message.objects.filter(session_id__in=[s.id for s in page.rows], alternative_to__isnull=True)
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
