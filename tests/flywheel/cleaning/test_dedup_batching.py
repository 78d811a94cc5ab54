"""Fingerprints are computed for a whole batch at once (shingles over the concatenated streams,
signatures a block of shingles at a time). They are also stored: a batched result that differed
from the per-document one would stop new data from matching what is already in the index. And
the planted near-duplicates of real chat sessions and prompts are found without false alarms."""

from __future__ import annotations

import gzip
import hashlib
import json
import random

import numpy as np
import pytest

from flywheel.cleaning import dedup
from flywheel.cleaning.dedup import NearDuplicateIndex, fingerprints, prepare_session, prepare_text
from flywheel.cleaning.text import tokens

# Digest of the fixed set's fingerprints as computed one document at a time before batching
# (commit a564a5f); stored signatures and band keys carry these values.
FINGERPRINTS_BEFORE_BATCHING = "5ce8b32619d46cd4a42b5975615357d7"

_WORDS = (
    "the a how do i make fluffy omelette please thanks what is of and question model data train why not "
    "can you help me with this"
).split()
_HAN = "我你他她们是的不了在有这个人中大为上来到说时地也子就年要会可以出那么好吗请问谢流浪地球导演谁"


def _text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 40)):
        draw = rng.random()
        if draw < 0.45:
            parts.append(rng.choice(_WORDS))
        elif draw < 0.9:
            parts.append("".join(rng.choice(_HAN) for _ in range(rng.randint(1, 6))))
        elif draw < 0.95:
            parts.append(rng.choice(["!", "？", "，", "😂", "ＡＢＣ", "x_y", "42"]))
        else:
            parts.append(" ")
    return " ".join(parts)


def _fixed_set() -> tuple[list[str], list[list[tuple[str, str]]]]:
    """Mixed Chinese and English, empty to long, every role (and an unknown one)."""
    rng = random.Random(20261205)
    texts = [_text(rng) for _ in range(1500)]
    sessions = [
        [(rng.choice(["user", "assistant", "system", "tool", "other"]), _text(rng)) for _ in range(rng.randint(1, 12))]
        for _ in range(400)
    ]
    return texts, sessions


def _digest() -> str:
    texts, sessions = _fixed_set()
    digest = hashlib.blake2b(digest_size=16)
    for scope, prepared in (
        ("prompt", [prepare_text(t) for t in texts]),
        ("session", [prepare_session(s) for s in sessions]),
    ):
        items = [p for p in prepared if p is not None]
        digest.update(str(len(items)).encode())
        for fp in fingerprints(items, scope=scope):
            digest.update(fp.content_hash.encode())
            digest.update(fp.signature_bytes() or b"-")
            digest.update(repr(fp.bands).encode())
    return digest.hexdigest()


def _signature_one_at_a_time(ids: np.ndarray, n: int) -> np.ndarray:
    """The per-document formula: hash each run of n token ids, permute, take the minimum."""
    count = len(ids) - n + 1
    with np.errstate(over="ignore"):
        combined = ids[:count] * dedup._POSITION[0]
        for k in range(1, n):
            combined = combined + ids[k : k + count] * dedup._POSITION[k]
        shingles = dedup._mix(combined) >> np.uint64(32)
        permuted = (shingles[:, None] * dedup._PERM_A[None, :] + dedup._PERM_B[None, :]) >> np.uint64(32)
    return permuted.min(axis=0).astype(np.uint32)


def test_batched_fingerprints_equal_those_stored_before_batching():
    assert _digest() == FINGERPRINTS_BEFORE_BATCHING


def test_documents_cut_by_block_edges_get_the_same_fingerprints(monkeypatch):
    monkeypatch.setattr(dedup, "_CHUNK_SHINGLES", 7)
    assert _digest() == FINGERPRINTS_BEFORE_BATCHING


@pytest.mark.parametrize("scope", ["prompt", "session"])
def test_every_signature_equals_the_one_document_formula(scope):
    rng = random.Random(7)
    long_text = " ".join(_text(rng) for _ in range(1200))  # far longer than one block of shingles
    texts = [_text(rng) for _ in range(300)] + [long_text]
    prepared = [
        p
        for p in (prepare_text(t) if scope == "prompt" else prepare_session([("user", t)]) for t in texts)
        if p is not None
    ]
    n = dedup.SHINGLE_SIZES[scope][0]
    assert dedup.SHINGLE_SIZES[scope][0] == dedup.SHINGLE_SIZES[scope][1]
    for item, fp in zip(prepared, fingerprints(prepared, scope=scope)):
        if len(item.ids) > n:
            assert np.array_equal(fp.signature, _signature_one_at_a_time(item.ids, n))
        else:
            assert fp.signature is None and fp.bands == ()


def test_mostly_chinese_is_decided_on_the_text_tokens_not_the_role_markers():
    # Two Chinese characters against one English word: Chinese, whatever the number of turns.
    assert prepare_session([("user", "你好"), ("assistant", "hello"), ("user", ""), ("assistant", "")]).cjk
    assert not prepare_session([("user", "你"), ("assistant", "hello there")]).cjk


# --- planted near-duplicates in real chat --------------------------------------------------------


def _real_sessions(datasets) -> list[list[tuple[str, str]]]:
    from flywheel.ingest.formats import RecordError, convert_hh_rlhf

    sessions = []
    with gzip.open(datasets / "kdconv-film-dev.json.gz", "rt", encoding="utf-8") as handle:
        sessions += [
            [("user" if i % 2 == 0 else "assistant", u["message"]) for i, u in enumerate(c["messages"])]
            for c in json.load(handle)
        ]
    with gzip.open(datasets / "hh-rlhf-harmless-base-test.jsonl.gz", "rb") as handle:
        for line in list(handle)[:400]:
            try:
                messages = convert_hh_rlhf(json.loads(line), line)["sessions"][0]["messages"]
            except RecordError:
                continue
            sessions.append([(m["role"], m["content"]) for m in messages if "alternative_to" not in m])
    return sessions


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def _grams(toks: list[str], n: int) -> set:
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)} if len(toks) > n else {tuple(toks)}


def _session_grams(turns) -> set:
    stream = [t for role, text in turns for t in [f"<{role}>", *tokens(text)]]
    return _grams(stream, 3)


def _edited_session(turns, rng: random.Random):
    turns = list(turns)
    if rng.random() < 0.5:
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in turns[0][1])
        return turns + [("user", "谢谢你的回答！" if chinese else "Thanks, that helps a lot!")]
    at = rng.randrange(len(turns))
    return turns[:at] + [(turns[at][0], "请问" + turns[at][1])] + turns[at + 1 :]


def test_planted_near_duplicate_sessions_are_found_and_nothing_dissimilar_is_flagged(shared_datasets):
    rng = random.Random(3)
    sessions = _real_sessions(shared_datasets)
    copies = [(i, _edited_session(sessions[i], rng)) for i in range(0, len(sessions), 4)]
    # Only clear duplicates are planted (an edit can weigh too much in a short session).
    planted = [(i, copy) for i, copy in copies if _jaccard(_session_grams(sessions[i]), _session_grams(copy)) >= 0.8]
    assert len(planted) >= 80
    items = sessions + [copy for _, copy in planted]
    grams = [_session_grams(s) for s in items]
    index = NearDuplicateIndex(0.7)
    matches = [
        index.match_or_add(i, fp)
        for i, fp in enumerate(fingerprints([prepare_session(s) for s in items], scope="session"))
    ]
    assert all(matches[len(sessions) + k] is not None for k in range(len(planted)))  # every plant is found
    flagged = [(i, m.representative) for i, m in enumerate(matches) if m is not None]
    assert all(_jaccard(grams[i], grams[rep]) >= 0.5 for i, rep in flagged)  # no false alarm


def test_planted_near_duplicate_prompts_are_found_and_nothing_dissimilar_is_flagged(shared_datasets):
    rng = random.Random(4)
    prompts = list(
        dict.fromkeys(
            text
            for s in _real_sessions(shared_datasets)
            for role, text in s
            if role == "user" and len(tokens(text)) >= 12
        )
    )
    planted = [(i, rng.choice(["请问", "Please, "]) + prompts[i]) for i in range(0, len(prompts), 5)]
    items = prompts + [copy for _, copy in planted]
    grams = [_grams(tokens(t), 2) for t in items]
    index = NearDuplicateIndex(0.7)
    matches = [
        index.match_or_add(i, fp) for i, fp in enumerate(fingerprints([prepare_text(t) for t in items], scope="prompt"))
    ]
    found = sum(matches[len(prompts) + k] is not None for k in range(len(planted)))
    assert found >= 0.97 * len(planted)  # a 12-token prompt with a prefix sits near the threshold
    flagged = [(i, m.representative) for i, m in enumerate(matches) if m is not None]
    assert all(_jaccard(grams[i], grams[rep]) >= 0.5 for i, rep in flagged)
