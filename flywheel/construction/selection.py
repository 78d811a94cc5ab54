"""The rules that turn judged candidates into an SFT answer and a preference pair, as pure
functions (no database, no LLM), so each rule is tested on its own.

- Texts are compared after normalisation (Unicode NFKC, case, whitespace): equal texts are one
  candidate, and a pair is never made of two.
- Pairwise verdicts come in two orders; they are combined so that position bias cancels: a
  judge that picks the first (or the second) answer in both orders has said nothing, which
  counts as a tie ("inconsistent").
- A pair needs a score margin of at least the threshold, never equal scores; a pairwise check
  that does not confirm the direction refuses it as a tie.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# Why no SFT answer / no pair was made; the keys of the refusal counts.
REFUSAL_REASONS = {
    "tie": "the judge scored the answers equally (or its two pairwise orders disagreed)",
    "small_margin": "the score margin is below the threshold",
    "identical_texts": "the answers are the same text",
    "judge_failure": "the judge gave no valid verdict",
    "verifier_failure": "every candidate failed the verifier",
    "verifier_unavailable": "the code verifier's sandbox cannot run on this worker, so no code was run",
    "no_diversity": "the teacher returned the same text every time: nothing to choose from",
    "original_best": "the original answer was judged best: nothing better was found",
    "single_candidate": "only one judged candidate: nothing to pair it with",
    "budget": "the run's budget ran out before this bad case was finished",
}

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text or "").casefold()).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Scored:
    """A judged candidate as the rules see it."""

    index: int
    is_original: bool
    text_hash: str
    score: float
    verifier_failed: bool = False


def pair_key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def combine_orders(winner_ab: str | None, winner_ba: str | None) -> tuple[int | None, bool]:
    """Preference for the lower-index candidate `x` of a pair from the two orders: AB shows x as
    A, BA shows x as B. Returns (+1 x better, -1 the other better, 0 tie, None unknown) and
    whether the two orders contradicted each other by position (A both times, or B both times)."""
    if winner_ab is None or winner_ba is None:
        return None, False
    first = {"A": 1, "B": -1, "tie": 0}[winner_ab]
    second = {"B": 1, "A": -1, "tie": 0}[winner_ba]
    inconsistent = winner_ab == winner_ba and winner_ab in ("A", "B")
    total = first + second
    return (0 if total == 0 else (1 if total > 0 else -1)), inconsistent


def preference(prefs: dict[tuple[int, int], int | None], a: int, b: int) -> int | None:
    """Combined pairwise preference of candidate a over b (+1, -1, 0), None if not compared."""
    value = prefs.get(pair_key(a, b))
    if value is None:
        return None
    return value if a < b else -value


def ranked(candidates: list[Scored]) -> list[Scored]:
    """Best first: higher score, then a teacher answer before the original, then lower index."""
    return sorted(candidates, key=lambda c: (-c.score, c.is_original, c.index))


def top_contest(candidates: list[Scored], *, band: float) -> tuple[Scored, Scored] | None:
    """The two leading candidates that may be chosen, when their scores are close enough that a
    pairwise comparison should decide between them."""
    eligible = ranked([c for c in candidates if not c.verifier_failed])
    if len(eligible) < 2 or eligible[0].score - eligible[1].score > band:
        return None
    return eligible[0], eligible[1]


def best_of(candidates: list[Scored], prefs: dict[tuple[int, int], int | None]) -> Scored | None:
    """The candidate to keep: the leader by score, unless the pairwise comparison of the two
    leaders (when one was made) prefers the runner-up."""
    eligible = ranked([c for c in candidates if not c.verifier_failed])
    if not eligible:
        return None
    if len(eligible) >= 2 and preference(prefs, eligible[1].index, eligible[0].index) == 1:
        return eligible[1]
    return eligible[0]


def worst_of(candidates: list[Scored], *, besides: Scored) -> Scored | None:
    """The rejected side: the lowest score; on equal scores the original answer (what the model
    really said), then the higher index."""
    others = [c for c in candidates if c.index != besides.index]
    if not others:
        return None
    return min(others, key=lambda c: (c.score, not c.is_original, -c.index))


def sft_refusal(
    *,
    best: Scored | None,
    original: Scored | None,
    prefs: dict[tuple[int, int], int | None],
    judged: int,
    verifier_failures: int,
) -> str | None:
    """Why the best candidate cannot become the SFT answer, or None when it can."""
    if best is None:
        return "verifier_failure" if judged and verifier_failures >= judged else "judge_failure"
    if best.is_original:
        return "original_best"
    if original is not None and not original.verifier_failed:
        if best.score < original.score:
            return None if preference(prefs, best.index, original.index) == 1 else "original_best"
        if best.score == original.score and preference(prefs, best.index, original.index) != 1:
            return "tie"
    return None


def pair_refusal(
    *,
    chosen: Scored | None,
    rejected: Scored | None,
    margin_threshold: float,
    confirmed: int | None,
    require_confirmation: bool,
) -> str | None:
    """Why (chosen, rejected) cannot be kept as a pair, or None when it can. `confirmed` is the
    combined pairwise preference of chosen over rejected (None: not compared or judge failed)."""
    if chosen is None:
        return "judge_failure"
    if rejected is None:
        return "single_candidate"
    if chosen.text_hash == rejected.text_hash:
        return "identical_texts"
    margin = chosen.score - rejected.score
    if abs(margin) < 1e-9:
        return "tie"
    if margin < margin_threshold:
        return "small_margin"
    if require_confirmation:
        if confirmed is None:
            return "judge_failure"
        if confirmed != 1:
            return "tie"
    return None
