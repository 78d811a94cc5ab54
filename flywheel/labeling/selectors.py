"""Reads of the labeling app: labels per session (for the dataset builder and the session page),
distributions, judge-vs-human agreement and the dead-letter list."""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import Count, Q
from sklearn.metrics import cohen_kappa_score

from flywheel.labeling.models import Label, LabelTask
from flywheel.ui.paging import KeysetPage, keyset_page

# Which label speaks for a session when there are several: a person's, then a trusted LLM
# label, then the offline labeler's, and an untrusted one only when nothing else exists.
_RANK = {("human", True): 0, ("llm", True): 1, ("offline", True): 2, ("llm", False): 3, ("offline", False): 4}


def _best(labels: list[Label]) -> Label | None:
    if not labels:
        return None
    return min(labels, key=lambda l: (_RANK.get((l.source, l.trusted), 9), -l.id))


def labels_for_sessions(*, session_ids: list[int]) -> dict[int, dict]:
    """{session id: {"task_type", "task_subtype", "quality", "usable", "trusted", "uncertain", "source",
    "version"}} from the label that speaks for each session (see _RANK). Used by the dataset builder.
    An uncertain task type is not trusted: a build with trusted labels only leaves it out until a
    reviewer has decided."""
    by_session: dict[int, list[Label]] = {}
    for label in Label.objects.filter(session_id__in=session_ids).only(
        "id",
        "session_id",
        "source",
        "trusted",
        "task_type",
        "task_subtype",
        "quality",
        "usable",
        "prompt_version",
        "model",
        "uncertain",
    ):
        by_session.setdefault(label.session_id, []).append(label)
    out = {}
    for session_id, labels in by_session.items():
        best = _best(labels)
        out[session_id] = {
            "task_type": best.task_type,
            "task_subtype": best.task_subtype,
            "quality": best.quality,
            "usable": best.usable,
            "trusted": best.trusted and not best.uncertain,
            "uncertain": best.uncertain,
            "source": best.source,
            "version": f"{best.source}:{best.prompt_version}:{best.model}",
        }
    return out


def session_labels_panel(session) -> dict:
    labels = list(Label.objects.filter(session=session).order_by("-id")[:20])
    tasks = list(LabelTask.objects.filter(session=session).order_by("-id")[:10])
    return {"labels": labels, "label_tasks": tasks, "speaking": _best(labels)}


def label_distribution(*, ttl_s: int = 60) -> dict:
    """Counts by task type and by quality, per source. Cached briefly: the group-by reads the
    whole table, which must not happen on every page view."""

    def compute() -> dict:
        by_type: dict[str, dict[str, int]] = {}
        for row in Label.objects.values("source", "task_type").annotate(n=Count("id")):
            by_type.setdefault(row["task_type"], {})[row["source"]] = row["n"]
        by_quality: dict[int, dict[str, int]] = {}
        for row in Label.objects.values("source", "quality").annotate(n=Count("id")):
            by_quality.setdefault(row["quality"], {})[row["source"]] = row["n"]
        flags = Label.objects.aggregate(
            injection=Count("id", filter=Q(injection_flagged=True)),
            unusable=Count("id", filter=Q(usable=False)),
            unsafe=Count("id", filter=Q(safety_flag=True)),
            hallucination=Count("id", filter=Q(hallucination=True)),
            total=Count("id"),
        )
        return {"by_type": by_type, "by_quality": by_quality, "flags": flags}

    return cache.get_or_set("labeling:distribution", compute, ttl_s)


def label_agreement(*, source: str = "llm", limit: int = 20_000) -> list[dict]:
    """Per label field, how often the model's label (LLM or offline) agrees with the reviewer's
    on the same session: agreement rate and Cohen's kappa (chance-corrected)."""
    human = {l.session_id: l for l in Label.objects.filter(source=Label.Source.HUMAN).order_by("-id")[:limit]}
    if not human:
        return []
    machine: dict[int, Label] = {}
    for label in Label.objects.filter(source=source, session_id__in=list(human)).order_by("id"):
        machine[label.session_id] = label  # the newest wins
    pairs = [(machine[sid], human[sid]) for sid in machine]
    if not pairs:
        return []
    rows = []
    for field, get in (
        ("task_type", lambda l: l.task_type),
        ("quality", lambda l: str(l.quality)),
        ("usable", lambda l: "yes" if l.usable else "no"),
    ):
        a = [get(m) for m, _ in pairs]
        b = [get(h) for _, h in pairs]
        agree = sum(1 for x, y in zip(a, b) if x == y) / len(pairs)
        kappa = cohen_kappa_score(a, b) if len(set(a) | set(b)) > 1 else None
        rows.append(
            {
                "field": field,
                "n": len(pairs),
                "agreement": round(agree, 3),
                "kappa": None if kappa is None or kappa != kappa else round(float(kappa), 3),
            }
        )
    within_one = sum(1 for m, h in pairs if abs(m.quality - h.quality) <= 1) / len(pairs)
    rows.append({"field": "quality (within 1)", "n": len(pairs), "agreement": round(within_one, 3), "kappa": None})
    return rows


def dead_label_tasks(*, before_id: int | None = None, size: int = 50) -> KeysetPage:
    qs = LabelTask.objects.filter(status=LabelTask.Status.DEAD).select_related("session")
    return keyset_page(qs, past=before_id, size=size)


def labels_recent(*, source: str = "", flagged: bool = False, size: int = 50) -> list[Label]:
    qs = Label.objects.select_related("session")
    if source:
        qs = qs.filter(source=source)
    if flagged:
        qs = qs.filter(injection_flagged=True)
    return list(qs.order_by("-id")[:size])


def label_task_counts(*, ttl_s: int = 30) -> dict[str, int]:
    def compute() -> dict:
        return {row["status"]: row["n"] for row in LabelTask.objects.values("status").annotate(n=Count("id"))}

    return cache.get_or_set("labeling:task-counts", compute, ttl_s)
