"""Features, examples and prediction over plain conversations (no database).

    predict_conversations(conversations, classifier) -> [[None, p2, p3, ...], ...]
    examples(labelled conversations, embed) -> Examples (features, labels, weights, languages, origins)

Embeddings: every distinct message text of a batch is embedded once (across all its sessions),
and each session's vectors are reused for every one of its turns. Training and evaluation live in
`flywheel.continuity.evaluation` (splits made before any splicing).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flywheel.continuity.classifier import TrainedClassifier, turn_language
from flywheel.continuity.data import LabelledConversation, spliced_negatives
from flywheel.continuity.features import FEATURE_NAMES, conversations_features, normalise, user_turn_positions
from flywheel.llm.embeddings import embed_texts

Embed = Callable[[list[str]], np.ndarray]
# The baseline every report sets the classifier against: char-bigram overlap of the user turn
# with the previous user turn and the answer to it.
BASELINE_FEATURE = FEATURE_NAMES.index("bigram_recent")
EMBED_MAX_CHARS = 300  # the gist of a turn; long answers would cost most of the embedding time


def default_embed(texts: list[str]) -> np.ndarray:
    return embed_texts(texts, max_chars=EMBED_MAX_CHARS)


def embed_with(model: str | None) -> Embed:
    """The embedding function of a named model (a packaged name or a path; None: the setting)."""
    if model is None:
        return default_embed

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(texts, max_chars=EMBED_MAX_CHARS, model=model)

    return embed


class EmbeddingCache:
    """Embeds each distinct (normalised) text once, however many conversations share it.
    With `path`, vectors are also kept on disk between runs (training and evaluation scripts)."""

    def __init__(self, embed: Embed = default_embed, *, path: Path | None = None):
        self.embed = embed
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as stored:
                texts = (
                    json.loads(stored["texts"].tobytes().decode("utf-8"))
                    if stored["texts"].dtype == np.uint8
                    else stored["texts"].tolist()
                )
                self.vectors = dict(zip(texts, stored["vectors"]))
        self._stored = len(self.vectors)

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            for text, vector in zip(missing, self.embed(missing)):
                self.vectors[text] = vector
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def save(self) -> None:
        if self.path is None or len(self.vectors) == self._stored:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self.vectors)
        temporary = self.path.with_suffix(".tmp.npz")
        # Texts as one UTF-8 JSON blob: a fixed-width string array would pad every text to the longest.
        blob = np.frombuffer(json.dumps(texts, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        np.savez(temporary, texts=blob, vectors=np.stack([self.vectors[t] for t in texts]))
        temporary.replace(self.path)
        self._stored = len(texts)


def predict_conversations(
    conversations: Sequence[Sequence[dict]], classifier: TrainedClassifier, embed: Embed = default_embed
) -> list[list[float | None]]:
    """One list per conversation: None for its first user turn, then P(continue) per user turn.
    All the conversations' feature rows go through the network in one batch."""
    featured = conversations_features(conversations, embed)
    rows = [features for _, features in featured if len(features)]
    probabilities = classifier.predict_proba(np.concatenate(rows)) if rows else np.zeros(0, np.float32)
    out: list[list[float | None]] = []
    offset = 0
    for messages, (positions, features) in zip(conversations, featured):  # noqa: B007
        mine = probabilities[offset : offset + len(features)]
        offset += len(features)
        first = [None] if user_turn_positions(messages) else []
        out.append(first + [round(float(p), 4) for p in mine])
    return out


@dataclass
class Examples:
    """One row per labelled user turn."""

    features: np.ndarray  # (N, F)
    labels: np.ndarray  # (N,) 1 = continues, 0 = new topic
    weights: np.ndarray  # (N,)
    languages: list[str]  # "zh" / "en", of the turn's text
    origins: list[str]  # "real" / "spliced"

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def baseline(self) -> np.ndarray:
        return self.features[:, BASELINE_FEATURE]


def examples(conversations: Sequence[LabelledConversation], embed: Embed) -> Examples:
    rows, labels, weights, languages, origins = [], [], [], [], []
    featured = conversations_features([c.messages for c in conversations], embed)
    for conv, (positions, features) in zip(conversations, featured):
        turn_weights = conv.meta.get("weights") or {}
        for k, (position, row, label) in enumerate(zip(positions, features, conv.labels[1:]), start=1):
            if label is None:
                continue
            rows.append(row)
            labels.append(int(label))
            weights.append(float(turn_weights.get(k, 1.0)))
            languages.append(turn_language(str(conv.messages[position].get("content") or "")))
            origins.append("real" if conv.origin == "real" else "spliced")
    width = len(FEATURE_NAMES)
    return Examples(
        np.asarray(rows, dtype=np.float32).reshape(-1, width),
        np.asarray(labels, dtype=np.int64),
        np.asarray(weights, dtype=np.float32),
        languages,
        origins,
    )


def with_splices(
    conversations: Sequence[LabelledConversation],
    *,
    rng: random.Random,
    embed: Embed,
    per_conversation: int = 2,
    hard_share: float = 0.5,
    cross_share: float = 0.34,
) -> list[LabelledConversation]:
    """The conversations plus spliced negatives made only from them, per group (so a film
    conversation's hard donors are other film conversations), and `cross_share` of a splice per
    conversation with a donor from another group."""
    conversations = [c for c in conversations if c.messages]
    out = list(conversations)
    groups: dict[str, list[LabelledConversation]] = {}
    for conv in conversations:
        groups.setdefault(conv.group, []).append(conv)
    for members in groups.values():
        if len(members) < 2:
            continue
        out += spliced_negatives(
            members,
            rng=rng,
            per_conversation=per_conversation,
            centroids=_centroids(members, embed),
            hard_share=hard_share,
        )
    if len(groups) > 1 and cross_share > 0:
        for name, members in groups.items():
            others = [c for other, group in groups.items() if other != name for c in group]
            picked = rng.sample(members, k=min(len(members), int(round(cross_share * len(members)))))
            out += spliced_negatives(picked, rng=rng, donors=others, hard_share=0.0)
    return out


def _centroids(conversations: Sequence[LabelledConversation], embed: Embed) -> np.ndarray:
    """Mean of the user turns' embeddings (the same vectors the features use, so no new text
    is embedded), L2-normalised: one row per conversation."""
    users = [
        [normalise(str(m.get("content") or "")) for m in conv.messages if m.get("role") == "user"]
        for conv in conversations
    ]
    flat = [text for texts in users for text in texts]
    vectors = embed(flat) if flat else np.zeros((0, 1), np.float32)
    width = vectors.shape[1] if len(flat) else 1
    table = np.zeros((len(conversations), width), dtype=np.float32)
    offset = 0
    for i, texts in enumerate(users):
        if texts:
            table[i] = vectors[offset : offset + len(texts)].mean(axis=0)
        offset += len(texts)
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    return table / np.maximum(norms, 1e-9)
