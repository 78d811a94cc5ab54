"""Training examples for the continuity classifier: real sessions and pseudo multi-turn ones.

A real session's user turns continue its topic (label 1) unless a reviewer or an annotation
says otherwise. Pseudo multi-turn sessions are made by splicing: the turns of another session
("donor") are put where the user could have switched topics, and the first spliced turn is a
switch (label 0). Two shapes, because real logs show both:
- switch: the first k exchanges of A, then exchanges of B from some point on (the user moved on
  and stayed on the new topic: B's later turns continue B, label 1);
- insert: one exchange of B dropped into A (a stray question). The turn that comes back to A's
  topic is left unlabelled: "continues the session" is ambiguous there.
Donors are drawn half at random and half as *hard* negatives: the candidate most similar to A
in embedding space (a film conversation spliced into another film conversation), so the
classifier cannot get by on "different domain = different topic".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LabelledConversation:
    """messages: [{"role", "content"}]; labels: one per user turn (the first is always None),
    1 = continues, 0 = switches topic, None = unknown (not used for training)."""

    messages: list[dict]
    labels: list[int | None]
    group: str = ""
    origin: str = "real"
    meta: dict = field(default_factory=dict)


def exchanges(messages: Sequence[dict]) -> list[list[dict]]:
    """Messages cut into exchanges, each starting with a user message (anything before the first
    user message, such as a system prompt, stays with the first exchange)."""
    cut: list[list[dict]] = []
    for message in messages:
        if message.get("role") == "user" or not cut:
            cut.append([])
        cut[-1].append(message)
    if cut and cut[0] and cut[0][0].get("role") != "user" and len(cut) > 1:
        cut[1] = cut[0] + cut[1]
        cut.pop(0)
    return [group for group in cut if any(m.get("role") == "user" for m in group)]


def real_conversation(
    messages: list[dict], *, group: str = "", labels: list[int | None] | None = None
) -> LabelledConversation:
    n_users = sum(1 for m in messages if m.get("role") == "user")
    if labels is None:
        labels = [None] + [1] * max(0, n_users - 1)
    return LabelledConversation(messages=list(messages), labels=list(labels), group=group, origin="real")


def splice_switch(
    a: LabelledConversation, b: LabelledConversation, *, keep: int, start: int, take: int
) -> LabelledConversation:
    a_ex, b_ex = exchanges(a.messages), exchanges(b.messages)
    head, tail = a_ex[:keep], b_ex[start : start + take]
    labels = (
        list(a.labels[:keep])
        + [0]
        + [(label if label is not None else 1) for label in b.labels[start + 1 : start + take]]
    )
    messages = [m for ex in head + tail for m in ex]
    a_weights, b_weights = a.meta.get("weights") or {}, b.meta.get("weights") or {}
    weights = {k: w for k, w in a_weights.items() if k < keep}
    weights.update({keep + j: w for j, w in ((k - start, w) for k, w in b_weights.items()) if 0 < j < take})
    return LabelledConversation(
        messages=messages,
        labels=labels,
        group=a.group,
        origin="spliced:switch",
        meta={"switch_at": keep, "weights": weights, **_keys(a, b)},
    )


def splice_insert(a: LabelledConversation, b: LabelledConversation, *, at: int, donor: int) -> LabelledConversation:
    a_ex, b_ex = exchanges(a.messages), exchanges(b.messages)
    parts = a_ex[:at] + [b_ex[donor]] + a_ex[at:]
    labels = list(a.labels[:at]) + [0] + [None] + list(a.labels[at + 1 :])
    messages = [m for ex in parts for m in ex]
    a_weights = a.meta.get("weights") or {}
    weights = {(k if k < at else k + 1): w for k, w in a_weights.items() if k != at}
    return LabelledConversation(
        messages=messages,
        labels=labels[: len(parts)],
        group=a.group,
        origin="spliced:insert",
        meta={"switch_at": at, "weights": weights, **_keys(a, b)},
    )


def _keys(a: LabelledConversation, b: LabelledConversation) -> dict:
    """Where a splice came from: its host's key (the split it belongs to) and its donor's."""
    return {"key": a.meta.get("key"), "donor_key": b.meta.get("key")}


def _donor(
    index: int, pool: Sequence[LabelledConversation], centroids: np.ndarray | None, rng: random.Random, hard: bool
) -> int:
    candidates = [rng.randrange(len(pool)) for _ in range(24)]
    candidates = [c for c in candidates if c != index] or [(index + 1) % len(pool)]
    if not hard or centroids is None:
        return candidates[0]
    sims = centroids[candidates] @ centroids[index]
    return candidates[int(np.argmax(sims))]


def spliced_negatives(
    pool: Sequence[LabelledConversation],
    *,
    rng: random.Random,
    per_conversation: int = 1,
    centroids: np.ndarray | None = None,
    hard_share: float = 0.5,
    donors: Sequence[LabelledConversation] | None = None,
    donor_centroids: np.ndarray | None = None,
) -> list[LabelledConversation]:
    """Pseudo multi-turn sessions built from `pool`, with donors from `donors` (default: the
    pool itself). `centroids` (one L2-normalised vector per conversation) enable hard donors."""
    donors = pool if donors is None else donors
    donor_centroids = centroids if donors is pool else donor_centroids
    out: list[LabelledConversation] = []
    for index, a in enumerate(pool):
        a_ex = exchanges(a.messages)
        if not a_ex:
            continue
        for _ in range(per_conversation):
            hard = rng.random() < hard_share
            if donors is pool:
                d = _donor(index, pool, centroids, rng, hard)
            else:
                d = (
                    _donor(-1, donors, None, rng, False)
                    if not hard or donor_centroids is None or centroids is None
                    else _nearest(centroids[index], donor_centroids, rng)
                )
            b = donors[d]
            b_ex = exchanges(b.messages)
            if not b_ex:
                continue
            # Half the time the donor contributes its opening turn (how a new topic usually
            # starts), half the time a turn from its middle (harder: it may lean on its own context).
            start = 0 if rng.random() < 0.5 else rng.randrange(len(b_ex))
            if rng.random() < 0.6 or len(a_ex) < 2:
                keep = rng.randint(1, len(a_ex))
                take = rng.randint(1, max(1, min(4, len(b_ex) - start)))
                out.append(splice_switch(a, b, keep=keep, start=start, take=take))
            else:
                at = rng.randint(1, len(a_ex) - 1)
                out.append(splice_insert(a, b, at=at, donor=start))
    return out


def _nearest(vector: np.ndarray, table: np.ndarray, rng: random.Random) -> int:
    candidates = [rng.randrange(len(table)) for _ in range(24)]
    return candidates[int(np.argmax(table[candidates] @ vector))]
