from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from flywheel.accounts.roles import ENGINEERS, user_has_any_role
from flywheel.ingest.facets import session_facets
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


@dataclass(frozen=True)
class SessionFilters:
    """What the sessions list is narrowed by, parsed from the query string. Every value is data:
    it reaches the database only as an ORM lookup's parameter, never as SQL text."""

    q: str = ""
    app: str = ""
    model_version: str = ""
    thumbs: str = ""
    since: date | None = None
    until: date | None = None
    facets: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params) -> SessionFilters:
        problems = []

        def text(name: str, limit: int) -> str:
            # PostgreSQL refuses NUL in text; nothing legitimate carries one, so it goes.
            return " ".join((params.get(name) or "").replace("\x00", "").split())[:limit]

        def day(name: str) -> date | None:
            raw = text(name, 40)
            if not raw:
                return None
            try:
                value = date.fromisoformat(raw[:10])
            except ValueError:
                value = None
            if value is None or not 1900 <= value.year <= 9000:  # far dates overflow time zones
                problems.append(gettext("%(value)s is not a date (YYYY-MM-DD); that filter is off.") % {"value": raw})
                return None
            return value

        thumbs = params.get("thumbs", "")
        if not thumbs and params.get("thumbs_down") == "1":  # links made before the thumbs filter
            thumbs = "down"
        facets = {}
        for facet in session_facets():
            value = params.get(facet.name, "")
            if value and value in {choice for choice, _label in facet.choices()}:
                facets[facet.name] = value
        return cls(
            q=text("q", SEARCH_MAX_CHARS),
            app=text("app", 64),
            model_version=text("model_version", 128),
            thumbs=thumbs if thumbs in THUMBS_CHOICES else "",
            since=day("since"),
            until=day("until"),
            facets=facets,
            problems=tuple(problems),
        )

    def query_params(self) -> dict[str, str]:
        """The filters as a query string takes them (for the next-page link)."""
        params = {
            "q": self.q,
            "app": self.app,
            "model_version": self.model_version,
            "thumbs": self.thumbs,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            **self.facets,
        }
        return {name: value for name, value in params.items() if value}


SEARCH_MAX_CHARS = 200
THUMBS_CHOICES = {
    "down": _("with a thumbs-down"),
    "up": _("with a thumbs-up"),
    "rated": _("with any rating"),
    "unrated": _("without ratings"),
}


def sessions_filtered(filters: SessionFilters):
    """ChatSession rows matching every filter. Which index serves which filter (PostgreSQL):
    - q: the trigram GIN index on UPPER(content) (migration 0003), which is what `icontains`
      compiles to; it serves Chinese and English alike. Fewer than three characters give no
      trigram and are answered by reading the index whole, still correct, just slower. The
      embedded SQLite default runs the same query as a plain scan.
    - app, model_version: the (app, started_at) and (model_version, started_at) indexes.
    - since / until: the started_at index.
    - thumbs: each session's messages through the message FK index, then feedback through its
      message FK index (EXISTS, so a session with many ratings is listed once).
    - facets: each app's own index (cleaning: (status, session); labels: the session FK).
    Paging stays by id (flywheel/ui/paging.py): every filter is a WHERE on top of `id < key`."""
    sessions = ChatSession.objects.all()
    if filters.app:
        sessions = sessions.filter(app=filters.app)
    if filters.model_version:
        sessions = sessions.filter(model_version=filters.model_version)
    if filters.since:
        sessions = sessions.filter(started_at__gte=_day_start(filters.since))
    if filters.until:
        sessions = sessions.filter(started_at__lt=_day_start(filters.until + timedelta(days=1)))
    if filters.q:
        matching = Message.objects.filter(content__icontains=filters.q).values("session_id")
        sessions = sessions.filter(id__in=matching)
    if filters.thumbs:
        rated = Feedback.objects.filter(message__session_id=OuterRef("pk"))
        if filters.thumbs == "down":
            sessions = sessions.filter(Exists(rated.filter(rating=-1)))
        elif filters.thumbs == "up":
            sessions = sessions.filter(Exists(rated.filter(rating=1)))
        elif filters.thumbs == "rated":
            sessions = sessions.filter(Exists(rated))
        else:
            sessions = sessions.filter(~Exists(rated))
    for facet in session_facets():
        if facet.name in filters.facets:
            sessions = facet.filter(sessions, filters.facets[facet.name])
    return sessions


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


PREVIEW_CHARS = 160


def sessions_page(*, filters: SessionFilters, before_id: int | None = None, size: int = 50) -> KeysetPage:
    """Newest first, paged by id (keyset). Counts, the first user message and every facet's
    column are read for the rows of this page only (never a COUNT over the table)."""
    page = keyset_page(sessions_filtered(filters), past=before_id, size=size)
    ids = [s.id for s in page.rows]
    counts = {
        row["session_id"]: row
        for row in Message.objects.filter(session_id__in=ids, alternative_to__isnull=True)
        .values("session_id")
        .annotate(
            messages=Count("id"),
            thumbs_down=Count("feedback", filter=Q(feedback__rating=-1)),
            thumbs_up=Count("feedback", filter=Q(feedback__rating=1)),
        )
    }
    # The first user turn, as the text shield shows it (PII scrubbed, the text a dataset holds):
    # a list of fifty sessions is read over shoulders and shared on screens, so it shows no
    # personal data even to engineers, who open the session page for the original. Found through
    # the (session, seq) unique index.
    first_user_turn = (
        Message.objects.filter(session_id=OuterRef("pk"), role=Message.Role.USER, alternative_to__isnull=True)
        .order_by("seq")
        .values("id")[:1]
    )
    first_turns = dict(
        ChatSession.objects.filter(id__in=ids).annotate(first=Subquery(first_user_turn)).values_list("id", "first")
    )
    shown = session_text_shield().messages(sorted(m for m in first_turns.values() if m)) if first_turns else {}
    columns = {facet.name: facet.column(ids) for facet in session_facets() if facet.column is not None}
    for session in page:
        row = counts.get(session.id, {})
        session.message_total = row.get("messages", 0)
        session.thumbs_down_total = row.get("thumbs_down", 0)
        session.thumbs_up_total = row.get("thumbs_up", 0)
        first = first_turns.get(session.id)
        preview = shown.get(first)
        if preview is None:  # no user turn (""), or one the shield hides (None)
            session.preview = None if first else ""
        else:
            session.preview = preview[:PREVIEW_CHARS] + ("…" if len(preview) > PREVIEW_CHARS else "")
        session.facet_values = {name: values.get(session.id, "") for name, values in columns.items()}
    return page


# The columns whose stored values the filters offer, each the first column of an index (models.py).
CHOICE_COLUMNS = ("app", "model_version")
CHOICES_MAX = 100


def session_filter_choices(column: str, *, limit: int = CHOICES_MAX) -> list[str]:
    """The distinct non-empty values of `column` (app, model_version), in order, at most `limit`:
    what the sessions list offers beside its free-text app and model filters.

    A plain DISTINCT reads every session. This walks the (column, started_at) index instead, one
    index descent per value (a "loose index scan" as a recursive query), so its cost grows with
    the number of values listed, not with the table: bench/sessions_search.py times it on
    200,000 sessions. The same SQL runs on the embedded SQLite default."""
    if column not in CHOICE_COLUMNS:  # a name from our code, never from a request
        raise ValueError(f"no filter choices for {column!r}")
    table = connection.ops.quote_name(ChatSession._meta.db_table)
    name = connection.ops.quote_name(column)
    sql = (
        f"WITH RECURSIVE found(value) AS ("
        f" SELECT MIN({name}) FROM {table} WHERE {name} > ''"
        f" UNION ALL"
        f" SELECT (SELECT MIN({name}) FROM {table} WHERE {name} > found.value) FROM found"
        f" WHERE found.value IS NOT NULL"
        f") SELECT value FROM found WHERE value IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [value for (value,) in cursor.fetchall()]


def imports_recent(*, limit: int = 20) -> list[ImportFile]:
    return list(ImportFile.objects.select_related("job").order_by("-id")[:limit])
