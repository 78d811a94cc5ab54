"""Exact and near-duplicate detection for chat text (Chinese and English), pure and batched.

- Exact: a hash of the normalised token sequence (NFKC, case-folded, punctuation and spacing
  dropped), so "Thanks!!" and "thanks" are one text.
- Near: MinHash over shingles, with LSH bands to find candidates and the signatures to verify
  them. Tokens are single CJK characters and whole words, so a shingle of n tokens is a
  character n-gram in Chinese and a word n-gram in English, even inside one mixed sentence.
- Short texts are not dropped: a text with at most n tokens has no more than one shingle,
  which makes MinHash meaningless, so it is matched by its exact hash only ("你好吗" and
  "你好啊" stay two texts; "你好吗？" and "你好吗" are one).

Why our own MinHash instead of datasketch's: shingles and signatures are computed for a whole
batch in a few numpy passes with no Python loop per shingle or per document (datasketch and
datatrove hash shingle by shingle in Python), and shingle and band hashes are stable across
processes, so signatures and bands are persisted and new data is compared against what is
stored without recomputing it. `bench/cleaning.py` runs both peers on the same texts.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from flywheel.cleaning.text import is_cjk_token
from flywheel.cleaning.text import tokens as text_tokens

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
# Shingles hashed per numpy pass: a (NUM_PERM, 8192) uint64 block is 8 MiB, small enough to stay
# in cache while it is reduced, big enough that the per-pass overhead does not show.
_CHUNK_SHINGLES = 8192
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


# Chat text repeats a small vocabulary: a bounded cache turns the per-token regex check and
# CRC into one dictionary hit (at most 65,536 tokens, a few MiB).
_cached_token_id = lru_cache(maxsize=1 << 16)(token_id)
# Token ids below this are CJK code points; word ids carry bit 32 and role markers bit 40.
_FIRST_WORD_ID = np.uint64(1 << 32)


def _token_ids(toks: list[str]) -> np.ndarray:
    return np.fromiter(map(_cached_token_id, toks), np.uint64, len(toks))


def _mostly_cjk(ids: np.ndarray, total: int) -> bool:
    return int(np.count_nonzero(ids < _FIRST_WORD_ID)) * 2 >= total


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
    ids = _token_ids(toks)
    return Prepared(exact_key="\x1f".join(toks), ids=ids, cjk=_mostly_cjk(ids, len(toks)))


def prepare_session(turns: list[tuple[str, str]]) -> Prepared | None:
    """A session as one token stream, each turn introduced by a marker for its role."""
    keys, ids, total = [], [], 0
    for role, text in turns:
        toks = text_tokens(text)
        keys.append(role + ":" + "\x1f".join(toks))
        ids.append(_ROLE_MARKERS.get(role, (1 << 40) + 9))
        ids.extend(map(_cached_token_id, toks))
        total += len(toks)
    if total == 0:
        return None
    stream = np.array(ids, dtype=np.uint64)
    # Role markers are not CJK, so the count is over the text tokens only.
    return Prepared(exact_key="\x1e".join(keys), ids=stream, cjk=_mostly_cjk(stream, total))


def _shingles(streams: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint64 hashes of every run of n consecutive token ids in each stream (each longer than
    n), all streams at once: the runs are hashed over the concatenation and those that cross
    from one stream into the next are dropped. Returns the hashes and the count per stream."""
    lengths = np.fromiter(map(len, streams), np.int64, len(streams))
    ids = np.concatenate(streams)
    count = len(ids) - n + 1
    with np.errstate(over="ignore"):
        combined = ids[:count] * _POSITION[0]
        for k in range(1, n):
            combined = combined + ids[k : k + count] * _POSITION[k]
    hashes = _mix(combined) >> np.uint64(32)
    per_stream = lengths - n + 1
    first_run = np.cumsum(per_stream) - per_stream
    # Position in `hashes` of each stream's k-th run: its offset in `ids` plus k.
    offsets = np.cumsum(lengths) - lengths
    positions = np.arange(int(per_stream.sum())) + np.repeat(offsets - first_run, per_stream)
    return hashes[positions], per_stream


def _signatures(shingles: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(B, NUM_PERM) uint32 MinHash signatures of B consecutive runs of `shingles` (counts[i]
    each, all > 0), a block of _CHUNK_SHINGLES shingles at a time.

    A value is the high half of min over the set of (a * shingle + b) mod 2^64; taking the
    high half after the minimum gives the same value (x >> 32 never decreases as x grows) for
    one shift per signature value instead of one per shingle. Blocks are laid out permutation
    by shingle, so each row's per-document minimum is a reduceat over contiguous memory. A
    document cut by a block edge carries its partial minimum into the next block."""
    ends = np.cumsum(counts)
    starts = ends - counts
    out = np.empty((len(counts), NUM_PERM), dtype=np.uint32)
    carried_doc, carried = -1, None
    for low in range(0, len(shingles), _CHUNK_SHINGLES):
        high = min(low + _CHUNK_SHINGLES, len(shingles))
        first = int(np.searchsorted(ends, low, side="right"))  # first document ending after `low`
        stop = int(np.searchsorted(starts, high, side="left"))  # documents starting before `high`
        with np.errstate(over="ignore"):
            permuted = _PERM_A[:, None] * shingles[None, low:high]  # (P, S)
            np.add(permuted, _PERM_B[:, None], out=permuted)
        block = np.minimum.reduceat(permuted, np.maximum(starts[first:stop], low) - low, axis=1)  # (P, docs)
        if carried_doc == first:
            np.minimum(block[:, 0], carried, out=block[:, 0])
        done = stop if ends[stop - 1] <= high else stop - 1  # the last document may go on
        out[first:done] = (block[:, : done - first] >> np.uint64(32)).T
        if done < stop:
            carried_doc, carried = stop - 1, block[:, -1].copy()
    return out


def _band_keys(signatures: np.ndarray, scope: str) -> np.ndarray:
    """(B, LSH_BANDS) positive int63 keys, one per band of LSH_ROWS signature values. The band
    number and the scope are mixed in, so one indexed column serves every band of every scope."""
    rows = signatures[:, : LSH_BANDS * LSH_ROWS].astype(np.uint64).reshape(len(signatures), LSH_BANDS, LSH_ROWS)
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
    sizes = [n_cjk if item.cjk else n_words for item in prepared]
    with_signature = [index for index, item in enumerate(prepared) if len(item.ids) > sizes[index]]
    signatures = np.empty((len(with_signature), NUM_PERM), dtype=np.uint32)
    for n in sorted({sizes[index] for index in with_signature}):
        rows = [row for row, index in enumerate(with_signature) if sizes[index] == n]
        shingles, counts = _shingles([prepared[with_signature[row]].ids for row in rows], n)
        signatures[rows] = _signatures(shingles, counts)
    bands = _band_keys(signatures, scope).tolist() if len(signatures) else []
    by_index = {index: row for row, index in enumerate(with_signature)}
    result = []
    for index, item in enumerate(prepared):
        row = by_index.get(index)
        result.append(
            Fingerprint(
                content_hash=exact_hash(item.exact_key),
                signature=None if row is None else signatures[row],
                bands=() if row is None else tuple(bands[row]),
            )
        )
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
