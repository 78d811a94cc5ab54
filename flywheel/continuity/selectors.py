"""Reads of the continuity app: topic switches for the dataset builder, the session panel,
versions and their reports."""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import Count, Q

from flywheel.continuity.models import (
    ContinuityHumanLabel,
    ContinuityModelVersion,
    ContinuityPrediction,
    Segment,
    SessionContinuity,
)
from flywheel.continuity.services import ContinuityModelMissing, continuity_model_active


def _active_version() -> str | None:
    try:
        return continuity_model_active().version
    except ContinuityModelMissing:
        return None


def topic_switches_for_sessions(*, session_ids: list[int]) -> dict[int, list[int]]:
    """{session id: ids of the user messages that start a new topic} under the active version
    (predictions, overridden by reviewers' answers). Sessions not predicted yet are absent."""
    version = _active_version()
    if version is None:
        return {}
    out: dict[int, list[int]] = {
        sid: []
        for sid in SessionContinuity.objects.filter(session_id__in=session_ids, model_version=version).values_list(
            "session_id", flat=True
        )
    }
    human = {
        mid: (sid, continues)
        for mid, sid, continues in ContinuityHumanLabel.objects.filter(session_id__in=session_ids).values_list(
            "message_id", "session_id", "continues"
        )
    }
    for message_id, session_id, continues in ContinuityPrediction.objects.filter(
        session_id__in=session_ids, model_version=version
    ).values_list("message_id", "session_id", "continues"):
        if message_id not in human and not continues:
            out.setdefault(session_id, []).append(message_id)
    # A reviewer's answer stands even where the model did not predict (or predicted otherwise).
    for message_id, (session_id, continues) in human.items():
        if not continues:
            out.setdefault(session_id, []).append(message_id)
    return out


def session_continuity_panel(session) -> dict:
    version = _active_version()
    predictions = {p.message_id: p for p in ContinuityPrediction.objects.filter(session=session, model_version=version)}
    human = dict(ContinuityHumanLabel.objects.filter(session=session).values_list("message_id", "continues"))
    turns = []
    for message in session.messages.filter(alternative_to__isnull=True, role="user").order_by("seq"):
        prediction = predictions.get(message.id)
        turns.append({"message": message, "prediction": prediction, "human": human.get(message.id)})
    summary = SessionContinuity.objects.filter(session=session, model_version=version).first()
    segments = list(Segment.objects.filter(session=session, model_version=version).order_by("index"))
    return {"version": version, "turns": turns, "summary": summary, "segments": segments}


def continuity_versions(*, limit: int = 20) -> list[ContinuityModelVersion]:
    return list(ContinuityModelVersion.objects.order_by("-id")[:limit])


def continuity_overview(*, version: str | None, ttl_s: int = 60) -> dict:
    """Sessions predicted, pseudo multi-turn share, and agreement with reviewers (cached)."""

    def compute() -> dict:
        sessions = SessionContinuity.objects.filter(model_version=version).aggregate(
            sessions=Count("id"), pseudo=Count("id", filter=Q(pseudo_multi_turn=True))
        )
        agree = total = 0
        human = dict(ContinuityHumanLabel.objects.values_list("message_id", "continues")[:50_000])
        for message_id, continues in ContinuityPrediction.objects.filter(
            model_version=version, message_id__in=list(human)
        ).values_list("message_id", "continues"):
            total += 1
            agree += int(continues == human[message_id])
        return {
            "sessions": sessions["sessions"],
            "pseudo": sessions["pseudo"],
            "human_labels": len(human),
            "agreement_n": total,
            "agreement": round(agree / total, 3) if total else None,
        }

    return cache.get_or_set(f"continuity:overview:{version}", compute, ttl_s)
