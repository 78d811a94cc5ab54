"""Training, evaluation and prediction over plain conversations (no database).

    predict_conversations(conversations, classifier) -> [[None, p2, p3, ...], ...]
    train_and_evaluate(conversations, seed=0, extra_train=(), extra_eval={}) -> (classifier, report)

Evaluation is on held-out *conversations*: the split is made before any splicing, so no
held-out conversation (nor a piece of one) is ever seen in training. The report gives accuracy,
F1 and ROC AUC of the classifier and of the baseline (a threshold on the embedding similarity
of the turn to the previous user turn, fitted on the same training data), overall and for the
real and spliced turns separately.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Callable, Iterable, Sequence

import numpy as np

from flywheel.continuity.classifier import TrainedClassifier, best_threshold, evaluate, fit
from flywheel.continuity.data import LabelledConversation, real_conversation, spliced_negatives
from flywheel.continuity.features import FEATURE_NAMES, conversations_features, normalise, user_turn_positions

Embed = Callable[[list[str]], np.ndarray]
BASELINE_FEATURE = FEATURE_NAMES.index("emb_prev_user")
EMBED_MAX_CHARS = 300  # the gist of a turn; long answers would cost most of the embedding time


def default_embed(texts: list[str]) -> np.ndarray:
    from flywheel.llm.embeddings import embed_texts

    return embed_texts(texts, max_chars=EMBED_MAX_CHARS)


class EmbeddingCache:
    """Embeds each distinct (normalised) text once, however many conversations share it."""

    def __init__(self, embed: Embed = default_embed):
        self.embed = embed
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            for text, vector in zip(missing, self.embed(missing)):
                self.vectors[text] = vector
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)


def predict_conversations(conversations: Sequence[Sequence[dict]], classifier: TrainedClassifier,
                          embed: Embed = default_embed) -> list[list[float | None]]:
    """One list per conversation: None for its first user turn, then P(continue) per user turn."""
    out: list[list[float | None]] = []
    for messages, (positions, rows) in zip(conversations, conversations_features(conversations, embed)):
        probabilities = classifier.predict_proba(rows) if len(rows) else []
        first = [None] if user_turn_positions(messages) else []
        out.append(first + [round(float(p), 4) for p in probabilities])
    return out


def examples(conversations: Sequence[LabelledConversation], embed: Embed
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(features, labels, weights, origin) of every labelled user turn."""
    rows, labels, weights, origins = [], [], [], []
    for conv, (positions, features) in zip(conversations, conversations_features([c.messages for c in conversations], embed)):
        turn_weights = conv.meta.get("weights") or {}
        for k, (row, label) in enumerate(zip(features, conv.labels[1:]), start=1):
            if label is None:
                continue
            rows.append(row)
            labels.append(int(label))
            weights.append(float(turn_weights.get(k, 1.0)))
            origins.append("real" if conv.origin == "real" else "spliced")
    width = len(FEATURE_NAMES)
    return (np.asarray(rows, dtype=np.float32).reshape(-1, width), np.asarray(labels, dtype=np.int64),
            np.asarray(weights, dtype=np.float32), origins)


def with_splices(conversations: Sequence[LabelledConversation], *, rng: random.Random, embed: Embed,
                 per_conversation: int = 2, hard_share: float = 0.5) -> list[LabelledConversation]:
    """The conversations plus spliced negatives made from them, per group (so a film
    conversation's hard donors are other film conversations; random donors cross groups)."""
    conversations = [c for c in conversations if c.messages]
    out = list(conversations)
    groups: dict[str, list[LabelledConversation]] = {}
    for conv in conversations:
        groups.setdefault(conv.group, []).append(conv)
    for members in groups.values():
        if len(members) < 2:
            continue
        centroids = _centroids(members, embed)
        out += spliced_negatives(members, rng=rng, per_conversation=per_conversation, centroids=centroids,
                                 hard_share=hard_share)
    if len(groups) > 1:  # cross-domain splices too, a few
        out += spliced_negatives(conversations, rng=rng, per_conversation=1, hard_share=0.0)[: len(conversations) // 3]
    return out


def _centroids(conversations: Sequence[LabelledConversation], embed: Embed) -> np.ndarray:
    texts = [normalise(" ".join(m.get("content") or "" for m in c.messages if m.get("role") == "user"))[:600]
             for c in conversations]
    vectors = embed(texts)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-9)


def held_out_indices(count: int, *, share: float, rng: random.Random) -> list[int]:
    order = list(range(count))
    rng.shuffle(order)
    return sorted(order[:max(1, int(round(share * count)))])


def split_held_out(conversations: Sequence[LabelledConversation], *, share: float, rng: random.Random
                   ) -> tuple[list[LabelledConversation], list[LabelledConversation]]:
    held = set(held_out_indices(len(conversations), share=share, rng=rng))
    return ([c for i, c in enumerate(conversations) if i not in held], [c for i, c in enumerate(conversations) if i in held])


def report_for(classifier: TrainedClassifier, baseline_threshold: float, conversations: Sequence[LabelledConversation],
               embed: Embed) -> dict:
    x, y, _, origins = examples(conversations, embed)
    if len(y) == 0:
        return {"n": 0}
    scores = classifier.predict_proba(x)
    baseline = x[:, BASELINE_FEATURE]
    report = {"model": evaluate(scores, y, classifier.threshold),
              "baseline": evaluate(baseline, y, baseline_threshold)}
    for origin in ("real", "spliced"):
        mask = np.asarray([o == origin for o in origins])
        if mask.any():
            report[f"{origin}_turns"] = {"n": int(mask.sum()),
                                         "accuracy": round(float(((scores[mask] >= classifier.threshold) == y[mask]).mean()), 4)}
    return report


def train_and_evaluate(conversations: Sequence[LabelledConversation], *, seed: int = 0, held_out_share: float = 0.2,
                       embed: Embed | None = None, extra_train: Iterable[LabelledConversation] = (),
                       extra_eval: dict[str, Sequence[LabelledConversation]] | None = None,
                       meta: dict | None = None) -> tuple[TrainedClassifier, dict]:
    """Split `conversations` into training and held-out conversations, add splices to each side,
    fit, and report on the held-out side (plus any `extra_eval` sets, already spliced)."""
    embed = embed or EmbeddingCache()
    rng = random.Random(seed)
    train_part, held_part = split_held_out(list(conversations), share=held_out_share, rng=rng)
    train_set = with_splices(list(train_part) + list(extra_train), rng=rng, embed=embed)
    held_set = with_splices(held_part, rng=rng, embed=embed, per_conversation=1)
    x, y, w, _ = examples(train_set, embed)
    if len(set(y.tolist())) < 2:
        raise ValueError("not enough multi-turn conversations to make both continuing and switching examples")
    classifier = fit(x, y, weights=w, seed=seed, meta=meta)
    baseline_threshold = best_threshold(x[:, BASELINE_FEATURE], y, metric="f1_macro")
    report = {
        "held_out": report_for(classifier, baseline_threshold, held_set, embed),
        "training": {"conversations": len(train_part) + len(list(extra_train)), "examples": int(len(y)),
                     "continuing": int(y.sum()), "switching": int(len(y) - y.sum()),
                     "held_out_conversations": len(held_part)},
    }
    for name, eval_set in (extra_eval or {}).items():
        report[name] = report_for(classifier, baseline_threshold, eval_set, embed)
    classifier.meta["baseline_threshold"] = baseline_threshold
    return classifier, report


def as_real(messages_list: Iterable[list[dict]], group: str = "") -> list[LabelledConversation]:
    return [real_conversation(list(m), group=group) for m in messages_list]


def reweighted(conv: LabelledConversation, weights: dict[int, float]) -> LabelledConversation:
    return replace(conv, meta={**conv.meta, "weights": weights})
