"""Cleaning reads: the sessions later stages may use, each app's rule set, and the report."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, QuerySet

from flywheel.cleaning.models import (
    DedupEntry,
    MessageCleaning,
    MessageScrub,
    RuleResult,
    RuleSetConfig,
    SessionCleaning,
    Status,
)
from flywheel.cleaning.rules import RULES
from flywheel.cleaning.ruleset import PII_RULE, RuleSet, ruleset_from_overrides
from flywheel.ingest.models import ChatSession, Message
from flywheel.ui.paging import KeysetPage, keyset_page

REPORT_CACHE_S = 60
_GENERATION_KEY = "cleaning:report-generation"


def sessions_ready_for_labeling(
    *, after_id: int | None = None, limit: int | None = 500, app: str | None = None
) -> QuerySet[ChatSession]:
    """Sessions that were cleaned, not dropped and not duplicates, in id order (keyset: pass
    the last id of a page as `after_id`). `limit=None` gives the unsliced queryset, for
    callers that filter further."""
    qs = ChatSession.objects.filter(
        cleaning__status__in=(Status.KEPT, Status.FLAGGED), cleaning__duplicate_of__isnull=True
    )
    if app is not None:
        qs = qs.filter(app=app)
    if after_id:
        qs = qs.filter(id__gt=after_id)
    qs = qs.order_by("id")
    return qs if limit is None else qs[:limit]


def rule_overrides_for_app(*, app: str) -> dict:
    """The overrides in force for an app: its own row, else the row for every app."""
    rows = dict(RuleSetConfig.objects.filter(app__in={app, ""}).values_list("app", "overrides"))
    return rows.get(app, rows.get("", {})) or {}


def ruleset_for_app(*, app: str) -> RuleSet:
    return ruleset_from_overrides(rule_overrides_for_app(app=app))


def apps_known() -> list[str]:
    """Every distinct app of the logged sessions, by skipping through the (app, started_at)
    index one app at a time instead of scanning the table."""
    table = ChatSession._meta.db_table
    sql = (
        f"WITH RECURSIVE apps(app) AS ("
        f" SELECT MIN(app) FROM {table}"
        f" UNION ALL SELECT (SELECT MIN(app) FROM {table} WHERE app > apps.app) FROM apps WHERE apps.app IS NOT NULL"
        f") SELECT app FROM apps WHERE app IS NOT NULL LIMIT 500"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        found = [row[0] for row in cursor.fetchall()]
    configured = RuleSetConfig.objects.exclude(app="").values_list("app", flat=True)
    return sorted(set(found) | set(configured))


# --- the report ---------------------------------------------------------------------------------


def report_cache_invalidate() -> None:
    """Called when a cleaning run finishes: cached figures carry the generation they were
    computed in, so a finished run shows at once, while during a long run (or on a quiet
    day) the aggregates are computed at most once a minute."""
    cache.add(_GENERATION_KEY, 0, timeout=None)
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:  # evicted between add and incr
        cache.set(_GENERATION_KEY, 1, timeout=None)


def _cached(key: str, compute):
    key = f"{key}:g{cache.get(_GENERATION_KEY, 0)}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, REPORT_CACHE_S)
    return value


def report_figures(*, app: str | None) -> dict:
    """Status counts, hits per rule (under the current rules), PII findings per type and the
    number of duplicates; cached for a minute, since these are aggregates over big tables."""

    def compute() -> dict:
        sessions = SessionCleaning.objects.all() if app is None else SessionCleaning.objects.filter(app=app)
        status = dict(sessions.values_list("status").annotate(n=Count("session")).order_by())
        duplicates = sessions.filter(duplicate_of__isnull=False).count()
        results = RuleResult.objects.all() if app is None else RuleResult.objects.filter(session__app=app)
        hits = {}
        for rule, version, config_hash, action, n in (
            results.values_list("rule", "rule_version", "config_hash", "action").annotate(n=Count("id")).order_by()
        ):
            hits.setdefault(rule, []).append(
                {"version": version, "config_hash": config_hash, "action": action, "count": n}
            )
        return {
            "status": {s: status.get(s, 0) for s in Status.values},
            "duplicates": duplicates,
            "cleaned": sum(status.values()),
            "hits": hits,
        }

    return _cached(f"cleaning:report:{app if app is not None else '*'}", compute)


def rule_hit_counts(figures: dict, ruleset: RuleSet | None) -> list[tuple[str, int]]:
    """Hits per rule under the rule set in force (old versions and parameters left out);
    with no rule set, under each rule's current version whatever its parameters."""
    current = {c.rule.name: c.config_hash for c in ruleset.rules} if ruleset is not None else None
    counts = []
    for name in list(RULES) + [PII_RULE, "duplicate"]:
        rows = figures["hits"].get(name, [])
        if name in RULES:
            rows = [
                r
                for r in rows
                if r["version"] == RULES[name].version and (current is None or r["config_hash"] == current.get(name))
            ]
        total = sum(r["count"] for r in rows)
        if total:
            counts.append((name, total))
    return counts


def pii_type_counts(*, limit_rows: int = 20000) -> list[tuple[str, int]]:
    """Findings per PII type over the most recent scrubs that found something."""

    def compute():
        counts: dict[str, int] = {}
        for findings in (
            MessageScrub.objects.filter(has_findings=True)
            .order_by("-message_id")
            .values_list("findings", flat=True)[:limit_rows]
        ):
            for finding in findings:
                counts[finding["type"]] = counts.get(finding["type"], 0) + 1
        return sorted(counts.items(), key=lambda item: -item[1])

    return _cached("cleaning:pii-types", compute)


def rule_samples(*, rule: str, app: str | None = None, before_id: int | None = None, size: int = 20) -> KeysetPage:
    qs = RuleResult.objects.filter(rule=rule).select_related("session", "message")
    if app is not None:
        qs = qs.filter(session__app=app)
    return keyset_page(qs, past=before_id, size=size)


def pii_samples(*, before_id: int | None = None, size: int = 20) -> KeysetPage:
    """Messages where scrubbing replaced something or failed: before and after."""
    qs = MessageScrub.objects.filter(Q(has_findings=True) | Q(ok=False)).select_related("message__session")
    page = keyset_page(qs, key="message_id", past=before_id, size=size)
    rows = [
        {"scrub": scrub, "message": scrub.message, "after": scrub.text if scrub.ok else None} for scrub in page.rows
    ]
    return KeysetPage(rows=rows, next_key=page.next_key)


def duplicate_clusters(*, scope: str, size: int = 20) -> list[dict]:
    """The biggest clusters: each representative with its duplicate count and a few members."""
    owner = "session" if scope == DedupEntry.Scope.SESSION else "message"

    def compute():
        top = list(
            DedupEntry.objects.filter(scope=scope, representative__isnull=False)
            .values("representative")
            .annotate(n=Count("id"))
            .order_by("-n", "representative")[:size]
        )
        return [(row["representative"], row["n"]) for row in top]

    top = _cached(f"cleaning:clusters:{scope}", compute)
    entries = DedupEntry.objects.in_bulk([rep for rep, _ in top])
    clusters = []
    for rep_id, n in top:
        entry = entries.get(rep_id)
        if entry is None:
            continue
        members = list(
            DedupEntry.objects.filter(representative_id=rep_id)
            .order_by("id")
            .values_list(f"{owner}_id", "similarity")[:5]
        )
        clusters.append({"representative": getattr(entry, f"{owner}_id"), "count": n, "members": members})
    if scope == DedupEntry.Scope.PROMPT:
        ids = {c["representative"] for c in clusters} | {m for c in clusters for m, _ in c["members"]}
        texts = dict(Message.objects.filter(id__in=ids).values_list("id", "content"))
        for cluster in clusters:
            cluster["text"] = texts.get(cluster["representative"], "")
            cluster["members"] = [(m, s, texts.get(m, "")) for m, s in cluster["members"]]
    else:
        ids = {c["representative"] for c in clusters} | {m for c in clusters for m, _ in c["members"]}
        names = dict(ChatSession.objects.filter(id__in=ids).values_list("id", "external_id"))
        for cluster in clusters:
            cluster["text"] = names.get(cluster["representative"], "")
            cluster["members"] = [(m, s, names.get(m, "")) for m, s in cluster["members"]]
    return clusters


def session_cleaning_panel(session: ChatSession) -> dict:
    """What the session page shows about cleaning."""
    cleaning = SessionCleaning.objects.filter(session=session).select_related("duplicate_of").first()
    results = list(RuleResult.objects.filter(session=session).select_related("message").order_by("-id")[:50])
    scrubs = list(
        MessageScrub.objects.filter(message__session=session, has_findings=True)
        .select_related("message")
        .order_by("message__seq")
    )
    prompt_dups = list(
        MessageCleaning.objects.filter(session=session, duplicate_of__isnull=False)
        .select_related("message", "duplicate_of")
        .order_by("message__seq")[:20]
    )
    return {"cleaning": cleaning, "results": results, "scrubs": scrubs, "prompt_dups": prompt_dups}
