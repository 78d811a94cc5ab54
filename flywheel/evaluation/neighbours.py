"""The training samples nearest to an evaluation item, by embedding, with the embeddings kept.

A dataset version is immutable and content-addressed, so the embeddings of its train split are too:
they are computed once, on the first look, and stored under the var directory in a file named by
the version's content hash, the embedding model and how the texts are made (RECIPE). Every later
look, from any process, reads the file instead of embedding up to SCAN samples again. An item's
own embedding is kept the same way, by its content hash. A change of embedding model or recipe
gives new names: nothing stale is ever read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings

from flywheel.datasets.models import DatasetSample
from flywheel.env import private_dir
from flywheel.llm.embeddings import embed_texts, embedding_model_name

SCAN = 2000
"""How many train-split samples (in build order) are searched."""
RECIPE = "user-turns-v1:2000"
"""How a conversation becomes the embedded text (its user turns, the last 2,000 characters)."""
MAX_CHARS = 2000


def prompt_text(messages: list[dict]) -> str:
    """What is compared: the user turns of a conversation (what was asked, not what was answered)."""
    return "\n".join(m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user")[
        -MAX_CHARS:
    ]


def _cache_dir() -> Path:
    path = Path(settings.VAR_DIR) / "cache" / "embeddings"
    private_dir(path)
    return path


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join([embedding_model_name(), RECIPE, *parts]).encode("utf-8")).hexdigest()[:32]


def _load(path: Path) -> dict | None:
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    except (FileNotFoundError, OSError, ValueError, KeyError):
        # Missing, or left half-written by a killed process before the rename (cannot happen with
        # the rename below, but a damaged disk can): computed again and replaced.
        return None


def _store(path: Path, **arrays) -> None:
    """Written to a temporary file in the same directory, then renamed: readers see all or nothing."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def version_train_embeddings(*, version) -> tuple[np.ndarray, np.ndarray]:
    """(sample ids (n,), unit vectors (n, d)) of the first SCAN SFT samples of the version's train
    split, embedded once per version, embedding model and recipe."""
    # The id too: sample ids are those of this row (a version deleted and built again has new ones).
    path = _cache_dir() / f"version-{version.id}-{_key(version.content_hash, str(version.id), str(SCAN))}.npz"
    stored = _load(path)
    if stored is not None:
        return stored["ids"], stored["vectors"]
    rows = list(
        DatasetSample.objects.filter(version=version, split=DatasetSample.Split.TRAIN, kind=DatasetSample.Kind.SFT)
        .order_by("position")
        .values_list("id", "record")[:SCAN]
    )
    ids = np.asarray([sample_id for sample_id, _ in rows], dtype=np.int64)
    vectors = embed_texts([prompt_text(record.get("messages", [])) for _, record in rows], max_chars=MAX_CHARS)
    _store(path, ids=ids, vectors=vectors)
    return ids, vectors


def item_embedding(*, item) -> np.ndarray:
    """The unit vector of an evaluation item's prompt, embedded once per content and model."""
    path = _cache_dir() / f"item-{_key(item.item_hash)}.npz"
    stored = _load(path)
    if stored is not None:
        return stored["vector"]
    vector = embed_texts([prompt_text(item.messages)], max_chars=MAX_CHARS)[0]
    _store(path, vector=vector)
    return vector


def nearest_training_samples(*, evaluation, item, limit: int = 5) -> list[dict]:
    """The run's training conversations closest to the item's prompt (cosine), among the first SCAN
    of its train split."""
    if evaluation.run is None or evaluation.run.dataset_version is None:
        return []

    ids, vectors = version_train_embeddings(version=evaluation.run.dataset_version)
    if not len(ids):
        return []
    similarity = vectors @ item_embedding(item=item)  # (n,)
    best = np.argsort(-similarity, kind="stable")[:limit]
    samples = DatasetSample.objects.only("id", "position", "task_type", "record").in_bulk([int(ids[i]) for i in best])
    return [
        {
            "sample": samples[int(ids[i])],
            "similarity": round(float(similarity[i]), 3),
            "messages": samples[int(ids[i])].record.get("messages", []),
        }
        for i in best
        if int(ids[i]) in samples
    ]
