"""Diversity of a set of conversations along three views, as pure functions (no database):

- use: task types and subtypes;
- form: turns per conversation, lengths, language, Markdown / JSON / code / lists;
- meaning: k-means clusters of the embeddings (representative samples, top terms), a 2-D map
  (PCA), coverage (the K-Center-Greedy radius at k centres) and redundancy (share of samples
  whose nearest neighbour is almost the same text).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from flywheel.curation.kcenter import k_center_greedy

REDUNDANT_COSINE = 0.95
CODE_FENCE = re.compile(r"```")
LIST_LINE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
MARKDOWN = re.compile(r"^\s*#{1,6}\s|\*\*[^*]+\*\*|^\s*>\s|\[[^\]]+\]\([^)]+\)|^\|.+\|\s*$", re.MULTILINE)
CJK = re.compile(r"[\u3400-\u9fff]")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}|[\u3400-\u9fff]{2,}")
STOP_WORDS = frozenset(
    "the and for you are with that this have from your can not but what how was all any will "
    "use its one out has had about into more them then than they their there which would when "
    "who why also just like some such only other these those been being here".split()
)


@dataclass
class Item:
    """What the analysis reads of one sample."""

    key: int
    task_type: str
    subtype: str
    messages: list[dict]

    @property
    def text(self) -> str:
        return "\n".join(message["content"] for message in self.messages)


def _looks_like_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def language_of(text: str) -> str:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "none"
    cjk = sum(1 for ch in letters if CJK.match(ch))
    return "zh" if cjk / len(letters) > 0.3 else "other/latin"


def use_view(items: list[Item]) -> dict:
    return {
        "task_types": Counter(item.task_type for item in items).most_common(),
        "subtypes": Counter(f"{item.task_type} / {item.subtype}" for item in items if item.subtype).most_common(20),
    }


def form_view(items: list[Item]) -> dict:
    turns = [sum(1 for m in item.messages if m["role"] == "assistant") for item in items]
    lengths = [len(item.text) for item in items]
    replies = [m["content"] for item in items for m in item.messages if m["role"] == "assistant"]
    shares = {
        "markdown": sum(1 for r in replies if MARKDOWN.search(r)),
        "json": sum(1 for r in replies if _looks_like_json(r)),
        "code": sum(1 for r in replies if CODE_FENCE.search(r)),
        "lists": sum(1 for r in replies if len(LIST_LINE.findall(r)) >= 2),
    }
    return {
        "turns": sorted(Counter(turns).items()),
        "length_chars": _percentiles(lengths),
        "languages": Counter(language_of(item.text) for item in items).most_common(),
        "reply_formats": {
            name: {"count": count, "share": count / len(replies) if replies else 0.0} for name, count in shares.items()
        },
        "replies": len(replies),
    }


def _percentiles(values: list[int]) -> dict:
    if not values:
        return {}
    array = np.asarray(values)
    return {
        "p10": int(np.percentile(array, 10)),
        "median": int(np.median(array)),
        "p90": int(np.percentile(array, 90)),
        "max": int(array.max()),
    }


def meaning_view(
    items: list[Item],
    vectors: np.ndarray,
    *,
    clusters: int = 8,
    seed: int = 0,
    representatives: int = 3,
    coverage_k: int = 20,
) -> dict:
    """`vectors`: one unit-norm embedding per item (flywheel.llm.embeddings.embed_texts)."""
    from sklearn.cluster import KMeans  # deferred: scikit-learn takes seconds to import; only the analysis needs it
    from sklearn.decomposition import PCA

    n = len(items)
    if n == 0:
        return {"clusters": [], "map": [], "coverage": None, "redundancy": None}
    k = max(1, min(clusters, n))
    model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vectors)
    labels = model.labels_
    result_clusters = []
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        distances = np.linalg.norm(vectors[members] - model.cluster_centers_[cluster], axis=1)
        closest = members[np.argsort(distances, kind="stable")[:representatives]]
        result_clusters.append(
            {
                "cluster": cluster,
                "size": int(len(members)),
                "representatives": [{"key": items[i].key, "text": items[i].text[:300]} for i in closest],
                "top_terms": top_terms([items[i].text for i in members]),
            }
        )
    result_clusters.sort(key=lambda row: -row["size"])
    points = PCA(n_components=2, random_state=seed).fit_transform(vectors) if n >= 2 else np.zeros((n, 2))
    coverage_k = min(coverage_k, n)
    _, radii = k_center_greedy(vectors, coverage_k)
    similarity = vectors @ vectors.T if n <= 5000 else None  # pages analyse a bounded sample
    redundant = None
    if similarity is not None and n >= 2:
        np.fill_diagonal(similarity, -1.0)
        redundant = float((similarity.max(axis=1) >= REDUNDANT_COSINE).mean())
    return {
        "clusters": result_clusters,
        "labels": labels.tolist(),
        "map": [
            {"x": round(float(x), 4), "y": round(float(y), 4), "cluster": int(c)} for (x, y), c in zip(points, labels)
        ],
        "coverage": {"k": coverage_k, "radius": float(radii[-1])},
        "redundancy": redundant,
    }


def top_terms(texts: list[str], limit: int = 6) -> list[str]:
    counts = Counter(word.lower() for text in texts for word in WORD.findall(text) if word.lower() not in STOP_WORDS)
    return [word for word, _ in counts.most_common(limit)]


def analyse(items: list[Item], vectors: np.ndarray, *, clusters: int = 8, seed: int = 0) -> dict:
    return {
        "count": len(items),
        "use": use_view(items),
        "form": form_view(items),
        "meaning": meaning_view(items, vectors, clusters=clusters, seed=seed),
    }
