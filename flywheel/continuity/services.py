"""Continuity: which classifier is active, training new versions, predicting and segmenting
sessions, and recording reviewers' answers.

Which model predicts: the active trained version (var/models/continuity/<version>/), or, when
none was trained here yet, the packaged default (flywheel/continuity/pretrained/, trained on the
public KdConv and hh-rlhf samples by `continuity_train --public-samples`). Nothing is loaded at
import time. A new version is trained from the stored sessions (real sessions as positives,
spliced pseudo multi-turn ones as negatives, reviewers' labels as they are) with
`continuity_train` or the "Train" button, and evaluated on held-out sessions.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from flywheel.cleaning.selectors import sessions_ready_for_labeling
from flywheel.continuity.classifier import TrainedClassifier, turn_language
from flywheel.continuity.data import LabelledConversation, real_conversation
from flywheel.continuity.engine import EmbeddingCache, predict_conversations
from flywheel.continuity.models import (
    ContinuityHumanLabel,
    ContinuityModelVersion,
    ContinuityPrediction,
    Segment,
    SessionContinuity,
)
from flywheel.continuity.public_samples import public_sample_sets
from flywheel.ingest.models import Message
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.llm.embeddings import embedding_model_name
from flywheel.review.selectors import message_review_overrides

PACKAGED_DIR = Path(__file__).resolve().parent / "pretrained"
HUMAN_LABEL_WEIGHT = 2.0


class ContinuityModelMissing(Exception):
    pass


class ContinuityTrainingError(ValueError):
    pass


@dataclass
class ActiveModel:
    version: str
    classifier: TrainedClassifier
    threshold: float  # for turns of a language the model has no threshold of its own for
    packaged: bool
    override: float | None = None  # FLYWHEEL_CONTINUITY_THRESHOLD: one cut for every language

    def threshold_for(self, text: str) -> float:
        """The cut for a user turn: the override, else the model's threshold for its language."""
        if self.override is not None:
            return self.override
        return self.classifier.threshold_for(turn_language(text))


def versions_root() -> Path:
    return Path(settings.VAR_DIR) / "models" / "continuity"


_loaded: dict[str, TrainedClassifier] = {}
_load_lock = threading.Lock()


def _load(path: Path) -> TrainedClassifier:
    key = str(path)
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = TrainedClassifier.load(path)
        return _loaded[key]


def continuity_model_active() -> ActiveModel:
    row = ContinuityModelVersion.objects.filter(active=True).first()
    if row is not None:
        classifier, version, packaged = _load(Path(row.path)), row.version, False
    elif (PACKAGED_DIR / "meta.json").exists():
        classifier = _load(PACKAGED_DIR)
        version, packaged = str(classifier.meta.get("version", "packaged")), True
    else:
        raise ContinuityModelMissing(
            "no continuity model: train one with `python manage.py continuity_train` (from stored sessions, "
            "or --public-samples DIR)"
        )
    override = settings.FLYWHEEL_CONTINUITY_THRESHOLD
    return ActiveModel(
        version=version,
        classifier=classifier,
        threshold=override or classifier.threshold,
        packaged=packaged,
        override=override,
    )


# --- training ----------------------------------------------------------------------------------


def _human_labels(message_ids: list[int]) -> dict[int, bool]:
    """Reviewers' continuity answers: this app's labels, then any review decision's turn control."""
    labels = {
        o["message"]: o["continues"]
        for o in ContinuityHumanLabel.objects.filter(message_id__in=message_ids).values("message", "continues")
    }
    for message_id, turn in message_review_overrides(message_ids=message_ids).items():
        if "continuity" in turn:
            labels[message_id] = bool(turn["continuity"])
    return labels


def stored_conversations(*, limit: int = 20_000) -> list[LabelledConversation]:
    """Ready sessions with at least two user turns, labelled: reviewers' answers where they exist,
    "continues" elsewhere (real sessions are the positives)."""
    out: list[LabelledConversation] = []
    after = 0
    while len(out) < limit:
        sessions = list(sessions_ready_for_labeling(after_id=after, limit=500).values_list("id", "app"))
        if not sessions:
            break
        after = sessions[-1][0]
        apps = dict(sessions)
        rows = list(
            Message.objects.filter(session_id__in=list(apps), alternative_to__isnull=True)
            .order_by("session_id", "seq")
            .values_list("id", "session_id", "role", "content")
        )
        human = _human_labels([r[0] for r in rows if r[2] == "user"])
        by_session: dict[int, list] = {}
        for row in rows:
            by_session.setdefault(row[1], []).append(row)
        for session_id, messages in by_session.items():
            users = [r for r in messages if r[2] == "user"]
            if len(users) < 2:
                continue
            labels: list[int | None] = [None]
            weights = {}
            for k, row in enumerate(users[1:], start=1):
                if row[0] in human:
                    labels.append(int(human[row[0]]))
                    weights[k] = HUMAN_LABEL_WEIGHT
                else:
                    labels.append(1)
            conv = real_conversation(
                [{"role": r[2], "content": r[3] or ""} for r in messages], group=apps[session_id] or "", labels=labels
            )
            conv.meta.update(weights=weights, session_id=session_id, key=f"stored/{session_id}")
            out.append(conv)
    return out


def continuity_model_train(
    *,
    public_samples: Path | None = None,
    seed: int = 0,
    activate: bool = True,
    created_by=None,
    job_id: int | None = None,
    progress: Progress = progress_ignored,
    use_stored: bool = True,
    entity_changes: bool = True,
) -> ContinuityModelVersion:
    """Train on the training side of the stored sessions (and the public samples), choose
    thresholds on the validation side, report on the test side (see `evaluation`: the split is
    made before any splicing), save the artifact and record the version."""
    # Deferred: evaluation (scikit-learn's metrics, splicing) is needed only when training.
    from flywheel.continuity.evaluation import held_out_keys, train_and_report

    sets: dict[str, list[LabelledConversation]] = {}
    if use_stored:
        sets["stored"] = stored_conversations()
    if public_samples is not None:
        sets.update(public_sample_sets(Path(public_samples)))
    sources = {name: len(conversations) for name, conversations in sets.items()}
    total = sum(sources.values())
    if total < settings.FLYWHEEL_CONTINUITY_MIN_SESSIONS:
        raise ContinuityTrainingError(
            f"only {total} multi-turn sessions to learn from; at least "
            f"{settings.FLYWHEEL_CONTINUITY_MIN_SESSIONS} are needed (FLYWHEEL_CONTINUITY_MIN_SESSIONS), "
            "or pass --public-samples"
        )
    progress(0, None, f"training on {total} conversations")
    version = f"v{timezone.now():%Y%m%d-%H%M%S}-s{seed}"
    # Public samples' embeddings are kept on disk between trainings; users' text never is.
    embed = EmbeddingCache(path=None if use_stored else embedding_cache_path())
    try:
        result = train_and_report(
            sets,
            embed=embed,
            seed=seed,
            entity_changes=entity_changes,
            report_on=("test",),
            meta={"version": version, "embedding_model": embedding_model_name(), "sources": sources},
        )
    except ValueError as exc:
        raise ContinuityTrainingError(str(exc)) from exc
    finally:
        embed.save()
    classifier, report = result.classifier, result.report["test"]
    classifier.meta.update(evaluation=report, training=result.training, held_out=held_out_keys(sets))
    directory = versions_root() / version
    classifier.save(directory)
    with transaction.atomic():
        row = ContinuityModelVersion.objects.create(
            version=version,
            path=str(directory),
            threshold=classifier.threshold,
            embedding_model=classifier.meta["embedding_model"],
            training={**result.training, "sources": sources},
            evaluation=report,
            job_id=job_id,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        )
        if activate:
            continuity_model_activate(version_id=row.id)
            row.active = True
    progress(0, None, f"trained {version}")
    return row


def embedding_cache_path(model: str | None = None) -> Path:
    """Public-sample embeddings kept between trainings and evaluations (var/cache), one file per
    embedding model (`model`: a packaged name or a path; None: the setting)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", embedding_model_name(model)).strip("_")[:80]
    return Path(settings.VAR_DIR) / "cache" / "continuity" / f"embeddings-{name}.npz"


def continuity_model_activate(*, version_id: int) -> None:
    with transaction.atomic():
        ContinuityModelVersion.objects.filter(active=True).exclude(id=version_id).update(active=False)
        ContinuityModelVersion.objects.filter(id=version_id).update(active=True)


def packaged_model_write(*, version_id: int) -> Path:
    """Copy a trained version into the package as the default (used to refresh the shipped model)."""
    row = ContinuityModelVersion.objects.get(id=version_id)
    PACKAGED_DIR.mkdir(exist_ok=True)
    for name in ("model.pt", "meta.json"):
        shutil.copy(Path(row.path) / name, PACKAGED_DIR / name)
    return PACKAGED_DIR


# --- prediction and segmentation ---------------------------------------------------------------


def _segments(user_seqs: list[int], last_seq: int, first_seq: int, switch_seqs: set[int]) -> list[tuple[int, int, int]]:
    """(first seq, last seq, user turns) of each piece, cut before every switching user turn."""
    cuts = [seq for seq in user_seqs[1:] if seq in switch_seqs]
    bounds = [first_seq] + cuts
    pieces = []
    for i, start in enumerate(bounds):
        end = (bounds[i + 1] - 1) if i + 1 < len(bounds) else last_seq
        pieces.append((start, end, sum(1 for s in user_seqs if start <= s <= end)))
    return pieces


def _write_session(
    session_id: int,
    version: str,
    messages: list[tuple],
    probabilities: list[float | None],
    threshold_for: Callable[[str], float],
    human: dict[int, bool],
) -> SessionContinuity:
    """`threshold_for(text)`: the cut for a user turn (per language, or the override)."""
    users = [m for m in messages if m[2] == "user"]
    predictions, switches, uncertain = [], set(), []
    for (message_id, seq, _, content), p in zip(users, probabilities):
        if p is None:
            continue
        threshold = threshold_for(content or "")
        continues = p >= threshold
        predictions.append(
            ContinuityPrediction(
                message_id=message_id, session_id=session_id, model_version=version, probability=p, continues=continues
            )
        )
        decided = human.get(message_id, continues)
        if not decided:
            switches.add(seq)
        if message_id not in human and abs(p - threshold) < settings.FLYWHEEL_CONTINUITY_REVIEW_BAND:
            uncertain.append(message_id)
    ContinuityPrediction.objects.bulk_create(
        predictions,
        update_conflicts=True,
        unique_fields=["message", "model_version"],
        update_fields=["probability", "continues", "created_at"],
    )
    pieces = _segments([m[1] for m in users], messages[-1][1], messages[0][1], switches) if users else []
    Segment.objects.filter(session_id=session_id, model_version=version).delete()
    Segment.objects.bulk_create(
        [
            Segment(
                session_id=session_id,
                model_version=version,
                index=i,
                first_seq=a,
                last_seq=b,
                user_turns=n,
                pseudo_multi_turn=bool(switches),
            )
            for i, (a, b, n) in enumerate(pieces)
        ]
    )
    summary, _ = SessionContinuity.objects.update_or_create(
        session_id=session_id,
        model_version=version,
        defaults={
            "user_turns": len(users),
            "switches": len(switches),
            "pseudo_multi_turn": bool(switches),
            "uncertain_message_ids": uncertain,
            "last_message_id": max(m[0] for m in messages),
        },
    )
    return summary


def continuity_predict_sessions(*, session_ids: list[int], model: ActiveModel | None = None) -> dict:
    """Predict every user turn of these sessions, then store predictions, segments and summaries."""
    model = model or continuity_model_active()
    rows = list(
        Message.objects.filter(session_id__in=session_ids, alternative_to__isnull=True)
        .order_by("session_id", "seq")
        .values_list("id", "session_id", "seq", "role", "content")
    )
    by_session: dict[int, list[tuple]] = {}
    for message_id, session_id, seq, role, content in rows:
        by_session.setdefault(session_id, []).append((message_id, seq, role, content or ""))
    ordered = [sid for sid in session_ids if by_session.get(sid)]
    conversations = [[{"role": m[2], "content": m[3]} for m in by_session[sid]] for sid in ordered]
    probabilities = predict_conversations(conversations, model.classifier)
    human = {
        o["message"]: o["continues"]
        for o in ContinuityHumanLabel.objects.filter(session_id__in=ordered).values("message", "continues")
    }
    counts = {"sessions": 0, "turns": 0, "pseudo_multi_turn": 0}
    with transaction.atomic():
        for sid, probs in zip(ordered, probabilities):
            summary = _write_session(sid, model.version, by_session[sid], probs, model.threshold_for, human)
            counts["sessions"] += 1
            counts["turns"] += sum(1 for p in probs if p is not None)
            counts["pseudo_multi_turn"] += int(summary.pseudo_multi_turn)
    return counts


def continuity_run_pending(*, progress: Progress = progress_ignored, limit: int | None = None) -> dict:
    """The pipeline stage: predict ready sessions not yet seen by the active version, and those
    that received messages since (cleaning re-cleaned them)."""
    model = continuity_model_active()
    seen = SessionContinuity.objects.filter(session=OuterRef("pk"), model_version=model.version)
    totals = {"model_version": model.version, "sessions": 0, "turns": 0, "pseudo_multi_turn": 0}
    after = 0
    while limit is None or totals["sessions"] < limit:
        size = settings.FLYWHEEL_CONTINUITY_BATCH
        size = size if limit is None else min(size, limit - totals["sessions"])
        ids = list(
            sessions_ready_for_labeling(limit=None)
            .filter(id__gt=after)
            .filter(~Exists(seen))
            .values_list("id", flat=True)[:size]
        )
        if not ids:
            break
        after = ids[-1]
        _add(totals, continuity_predict_sessions(session_ids=ids, model=model))
        progress(totals["sessions"], None, f"continuity: {totals['sessions']} sessions")
    appended = list(
        SessionContinuity.objects.filter(
            model_version=model.version, session__cleaning__last_message_id__gt=F("last_message_id")
        ).values_list("session_id", flat=True)[: settings.FLYWHEEL_CONTINUITY_BATCH]
    )
    if appended:
        _add(totals, continuity_predict_sessions(session_ids=appended, model=model))
    return totals


def _add(totals: dict, counts: dict) -> None:
    for key, value in counts.items():
        totals[key] += value


# --- reviewers ---------------------------------------------------------------------------------


def continuity_human_record(*, answers: dict[int, bool], user=None, review_item_id: int | None = None) -> int:
    """Store reviewers' answers {user message id: continues?} and re-cut those sessions' segments."""
    messages = dict(
        Message.objects.filter(id__in=list(answers), role=Message.Role.USER).values_list("id", "session_id")
    )
    for message_id, session_id in messages.items():
        ContinuityHumanLabel.objects.update_or_create(
            message_id=message_id,
            defaults={
                "session_id": session_id,
                "continues": bool(answers[message_id]),
                "review_item_id": review_item_id,
                "reviewer": user if getattr(user, "is_authenticated", False) else None,
            },
        )
    for session_id in set(messages.values()):
        segments_rebuild(session_id=session_id)
    return len(messages)


def segments_rebuild(*, session_id: int) -> None:
    """Re-cut a session's segments from its stored predictions and the reviewers' answers."""
    human = {
        o["message"]: o["continues"]
        for o in ContinuityHumanLabel.objects.filter(session_id=session_id).values("message", "continues")
    }
    messages = list(
        Message.objects.filter(session_id=session_id, alternative_to__isnull=True)
        .order_by("seq")
        .values_list("id", "seq", "role", "content")
    )
    for summary in SessionContinuity.objects.filter(session_id=session_id):
        stored = dict(
            ContinuityPrediction.objects.filter(session_id=session_id, model_version=summary.model_version).values_list(
                "message_id", "probability"
            )
        )
        threshold_for = _thresholds_of(summary.model_version)
        probabilities = [stored.get(m[0]) for m in messages if m[2] == "user"]
        with transaction.atomic():
            _write_session(session_id, summary.model_version, messages, probabilities, threshold_for, human)


def _thresholds_of(version: str) -> Callable[[str], float]:
    """The per-turn cut of the version that made these predictions (its own artifact's
    thresholds per language, or the override)."""
    override = settings.FLYWHEEL_CONTINUITY_THRESHOLD
    if override is not None:
        return lambda text: override
    row = ContinuityModelVersion.objects.filter(version=version).first()
    if row is not None:
        classifier = _load(Path(row.path))
        return lambda text: classifier.threshold_for(turn_language(text))
    return continuity_model_active().threshold_for
