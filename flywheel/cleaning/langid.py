"""Offline language identification for chat turns.

CJK scripts decide on their own (kana means Japanese, Hangul Korean, Han alone Chinese): no
model is needed and the answer holds even for short turns. Other text goes to lingua,
restricted to the candidate languages in settings (fewer languages: faster and fewer
confusions), and only when it is long enough to be trusted: below that the answer is "und"
(undetermined), never a guess. lingua's confidence comes with the answer: on short English
turns full of names it says "Dutch, 0.38", so the rule acts only above a confidence bound.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from flywheel.cleaning.text import TextFacts

UNDETERMINED = "und"
_LONG_TEXT = 120  # from here on lingua's fast low-accuracy mode is as good as the slow one
_SAMPLE = 200  # characters looked at: the start of a long text tells its language
# Words that are common in English and rare in the other candidate languages. Most English
# turns have several, which answers "English" without running lingua (its slowest case).
_ENGLISH_MARKERS = frozenset(
    "the and you your what how why where who when can could would should does did have has this that with for "
    "not are was were they there about which from will just been it's i'm don't can't please thanks is it to of "
    "in my me i an be if or so get know want like think make".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")

_lock = threading.Lock()
_detectors: dict[tuple[tuple[str, ...], bool], object] = {}


@dataclass(frozen=True)
class Detection:
    language: str  # ISO 639-1 code, or "und"
    confidence: float  # 0..1; lingua's relative confidence, 1.0 for script-decided answers


def _detector(codes: tuple[str, ...], low_accuracy: bool):
    key = (codes, low_accuracy)
    detector = _detectors.get(key)
    if detector is None:
        with _lock:
            detector = _detectors.get(key)
            if detector is None:
                languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in codes]
                if len(languages) < 2:
                    raise ValueError("language identification needs at least two candidate languages")
                builder = LanguageDetectorBuilder.from_languages(*languages)
                detector = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()
                _detectors[key] = detector
    return detector


def _looks_english(sample: str) -> bool:
    words = _WORD.findall(sample.lower().replace("\u2019", "'"))
    markers = [w for w in words if w in _ENGLISH_MARKERS]
    return len(set(markers)) >= 3 and len(markers) >= 0.2 * len(words)


def detect_language(
    facts: TextFacts, *, candidates: tuple[str, ...], min_letters: int = 20, min_cjk_chars: int = 2
) -> Detection:
    """The language of a turn, or "und" when it is too short to tell. `candidates` are the
    languages lingua chooses among for non-CJK text (at least two)."""
    cjk = facts.cjk_chars
    if cjk and cjk >= facts.words:
        if cjk < min_cjk_chars:
            return Detection(UNDETERMINED, 0.0)
        if facts.kana_chars:
            return Detection("ja", 1.0)
        if facts.hangul_chars > facts.han_chars:
            return Detection("ko", 1.0)
        return Detection("zh", 1.0)
    if facts.latin_letters < min_letters or facts.words < 3:
        return Detection(UNDETERMINED, 0.0)
    sample = facts.prose[:_SAMPLE]
    if "en" in candidates and _looks_english(sample):
        return Detection("en", 1.0)
    values = _detector(candidates, len(sample) >= _LONG_TEXT).compute_language_confidence_values(sample)
    if not values or values[0].value <= 0.0:
        return Detection(UNDETERMINED, 0.0)
    return Detection(values[0].language.iso_code_639_1.name.lower(), float(values[0].value))
