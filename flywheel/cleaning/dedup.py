"""Exact and near-duplicate detection for chat text (Chinese and English), pure and batched.

- Exact: a hash of the normalised token sequence (NFKC, case-folded, punctuation and spacing
  dropped), so "Thanks!!" and "thanks" are one text.
- Near: MinHash over shingles, with LSH bands to find candidates and the signatures to verify
  them. Tokens are single CJK characters and whole words, so a shingle of n tokens is a
  character n-gram in Chinese and a word n-gram in English, even inside one mixed sentence.
- Short texts are not dropped: a text with at most n tokens has no more than one shingle,
  which makes MinHash meaningless, so it is matched by its exact hash only ("你好吗" and
  "你好啊" stay two texts; "你好吗？" and "你好吗" are one).

Why our own MinHash instead of datasketch's: signatures are computed for a whole batch in one
vectorised numpy pass (datasketch hashes shingle by shingle in Python), and shingle and band
hashes are stable across processes, so signatures and bands are persisted and new data is
compared against what is stored without recomputing it. `bench/cleaning.py` compares the two
on the same texts.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from flywheel.cleaning.text import is_cjk_token, tokens as text_tokens

NUM_PERM = 128
# Bands use the first 64 permutations (16 bands of 4 rows): a pair at Jaccard 0.7 becomes a
# candidate with probability 0.99, at 0.5 with 0.64; every candidate is then verified on all
# 128 permutations. Changing these invalidates stored signatures and bands.
LSH_BANDS, LSH_ROWS = 16, 4
SHINGLE_SIZES = {
    # scope: (n for mostly-CJK text, n for other text)
    "prompt": (2, 2),
    "session": (3, 3),
}
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_rng = np.random.default_rng(0x5EED_F1A7)
_PERM_A = (_rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)  # odd multipliers
_PERM_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)
_POSITION = (_rng.integers(1, 2**63, 8, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_BAND_SALT = _rng.integers(1, 2**63, LSH_BANDS, dtype=np.uint64)
_SCOPE_SALT = {"prompt": np.uint64(0x9E3779B97F4A7C15), "session": np.uint64(0xC2B2AE3D27D4EB4F)}
_CHUNK_SHINGLES = 16384
_ROLE_MARKERS = {"user": 1 << 40, "assistant": (1 << 40) + 1, "system": (1 << 40) + 2, "tool": (1 << 40) + 3}


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the output (uint64, wrapping)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def token_id(token: str) -> int:
    # CJK characters are their code points; words a stable CRC (Python's hash() is salted per process).
    return ord(token) if is_cjk_token(token) else zlib.crc32(token.encode("utf-8")) | (1 << 32)


@dataclass(frozen=True)
class Fingerprint:
    content_hash: str  # exact key, 16 hex characters
    signature: np.ndarray | None  # uint32[NUM_PERM]; None when the text is too short for shingles
    bands: tuple[int, ...]  # LSH band keys (positive int63); empty without a signature

    def signature_bytes(self) -> bytes | None:
        return None if self.signature is None else self.signature.astype("<u4").tobytes()


def signature_from_bytes(raw: bytes | memoryview | None) -> np.ndarray | None:
    return None if raw is None else np.frombuffer(bytes(raw), dtype="<u4").astype(np.uint32)


@dataclass(frozen=True)
class Prepared:
    """A text (or session) reduced to what fingerprinting needs."""

    exact_key: str
    ids: np.ndarray  # uint64 token ids
    cjk: bool


def prepare_text(text: str) -> Prepared | None:
    """None for a text with nothing in it to compare."""
    toks = text_tokens(text)
    if not toks:
        stripped = " ".join(text.split()).casefold()
        if not stripped:
            return None
        return Prepared(exact_key="raw:" + stripped, ids=np.zeros(0, dtype=np.uint64), cjk=False)
    cjk = sum(1 for t in toks if is_cjk_token(t)) * 2 >= len(toks)
    return Prepared(exact_key="\x1f".join(toks), ids=np.fromiter((token_id(t) for t in toks), np.uint64, len(toks)),
                    cjk=cjk)


def prepare_session(turns: list[tuple[str, str]]) -> Prepared | None:
    """A session as one token stream, each turn introduced by a marker for its role."""
    keys, ids, cjk_tokens, total = [], [], 0, 0
    for role, text in turns:
        toks = text_tokens(text)
        keys.append(role + ":" + "\x1f".join(toks))
        ids.append(_ROLE_MARKERS.get(role, (1 << 40) + 9))
        ids.extend(token_id(t) for t in toks)
        cjk_tokens += sum(1 for t in toks if is_cjk_token(t))
        total += len(toks)
    if total == 0:
        return None
    return Prepared(exact_key="\x1e".join(keys), ids=np.array(ids, dtype=np.uint64), cjk=cjk_tokens * 2 >= total)


def _shingles(ids: np.ndarray, n: int) -> np.ndarray:
    """uint64 hashes of every run of n consecutive token ids."""
    count = len(ids) - n + 1
    with np.errstate(over="ignore"):
        combined = ids[:count] * _POSITION[0]
        for k in range(1, n):
            combined = combined + ids[k:k + count] * _POSITION[k]
    return _mix(combined) >> np.uint64(32)


def _signatures(shingle_sets: list[np.ndarray]) -> np.ndarray:
    """(B, NUM_PERM) uint32 MinHash signatures, computed chunk by chunk in numpy."""
    out = np.empty((len(shingle_sets), NUM_PERM), dtype=np.uint32)
    start = 0
    while start < len(shingle_sets):
        stop, size = start, 0
        while stop < len(shingle_sets) and (size == 0 or size + len(shingle_sets[stop]) <= _CHUNK_SHINGLES):
            size += len(shingle_sets[stop])
            stop += 1
        chunk = np.concatenate(shingle_sets[start:stop])
        with np.errstate(over="ignore"):
            permuted = (chunk[:, None] * _PERM_A[None, :] + _PERM_B[None, :]) >> np.uint64(32)  # (S, P)
        offsets = np.cumsum([0] + [len(s) for s in shingle_sets[start:stop - 1]])
        out[start:stop] = np.minimum.reduceat(permuted, offsets, axis=0).astype(np.uint32)
        start = stop
    return out


def _band_keys(signatures: np.ndarray, scope: str) -> np.ndarray:
    """(B, LSH_BANDS) positive int63 keys, one per band of LSH_ROWS signature values. The band
    number and the scope are mixed in, so one indexed column serves every band of every scope."""
    rows = signatures[:, :LSH_BANDS * LSH_ROWS].astype(np.uint64).reshape(len(signatures), LSH_BANDS, LSH_ROWS)
    with np.errstate(over="ignore"):
        combined = (_BAND_SALT ^ _SCOPE_SALT[scope])[None, :] + np.zeros(rows.shape[:2], dtype=np.uint64)
        for k in range(LSH_ROWS):
            combined = _mix(combined ^ (rows[:, :, k] * _POSITION[k]))
    return (combined >> np.uint64(1)).astype(np.int64)


def exact_hash(key: str) -> str:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def fingerprints(prepared: list[Prepared], *, scope: str) -> list[Fingerprint]:
    """Fingerprints for a batch of prepared texts, in order."""
    n_cjk, n_words = SHINGLE_SIZES[scope]
    shingle_sets: list[np.ndarray] = []
    with_signature: list[int] = []
    for index, item in enumerate(prepared):
        n = n_cjk if item.cjk else n_words
        if len(item.ids) > n:
            shingle_sets.append(_shingles(item.ids, n))
            with_signature.append(index)
    signatures = _signatures(shingle_sets) if shingle_sets else np.empty((0, NUM_PERM), np.uint32)
    bands = _band_keys(signatures, scope) if len(signatures) else np.empty((0, LSH_BANDS), np.int64)
    by_index = {index: row for row, index in enumerate(with_signature)}
    result = []
    for index, item in enumerate(prepared):
        row = by_index.get(index)
        result.append(Fingerprint(
            content_hash=exact_hash(item.exact_key),
            signature=None if row is None else signatures[row],
            bands=() if row is None else tuple(int(k) for k in bands[row]),
        ))
    return result


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / NUM_PERM


@dataclass(frozen=True)
class Match:
    representative: object  # the id of the kept item
    similarity: float  # 1.0 for an exact match
    exact: bool


class NearDuplicateIndex:
    """Representatives seen so far, by exact hash and by LSH band, in memory. The database
    holds the same for stored data; services load just the candidates a batch needs."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.by_hash: dict[str, object] = {}
        self.by_band: dict[int, list[object]] = defaultdict(list)
        self.signatures: dict[object, np.ndarray] = {}

    def add(self, item_id, fingerprint: Fingerprint) -> None:
        self.by_hash.setdefault(fingerprint.content_hash, item_id)
        if fingerprint.signature is not None:
            self.signatures[item_id] = fingerprint.signature
            for key in fingerprint.bands:
                self.by_band[key].append(item_id)

    def match(self, fingerprint: Fingerprint) -> Match | None:
        exact = self.by_hash.get(fingerprint.content_hash)
        if exact is not None:
            return Match(exact, 1.0, True)
        if fingerprint.signature is None:
            return None
        candidates = {c for key in fingerprint.bands for c in self.by_band.get(key, ())}
        if not candidates:
            return None
        ordered = sorted(candidates, key=lambda c: (str(type(c)), c))
        matrix = np.stack([self.signatures[c] for c in ordered])
        similarity = (matrix == fingerprint.signature[None, :]).mean(axis=1)
        best = int(np.argmax(similarity))  # first best: the oldest among equals
        if similarity[best] >= self.threshold:
            return Match(ordered[best], float(similarity[best]), False)
        return None

    def match_or_add(self, item_id, fingerprint: Fingerprint) -> Match | None:
        match = self.match(fingerprint)
        if match is None:
            self.add(item_id, fingerprint)
        return match
