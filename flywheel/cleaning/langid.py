"""Offline language identification for chat turns.

CJK scripts decide on their own (kana means Japanese, Hangul Korean, Han alone Chinese): no
model is needed and the answer holds even for short turns. Other text goes to lingua,
restricted to the candidate languages in settings (fewer languages: faster and fewer
confusions), and only when it is long enough to be trusted: below that the answer is "und"
(undetermined), never a guess. lingua also answers None when its top two languages are too
close; that is "und" as well.
"""

from __future__ import annotations

import threading

from flywheel.cleaning.text import TextFacts

UNDETERMINED = "und"
_LONG_TEXT = 120  # from here on lingua's fast low-accuracy mode is as good as the slow one
_SAMPLE = 400  # characters looked at: the start of a long text tells its language

_lock = threading.Lock()
_detectors: dict[tuple[tuple[str, ...], bool], object] = {}


def _detector(codes: tuple[str, ...], low_accuracy: bool):
    key = (codes, low_accuracy)
    detector = _detectors.get(key)
    if detector is None:
        with _lock:
            detector = _detectors.get(key)
            if detector is None:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in codes]
                if len(languages) < 2:
                    raise ValueError("language identification needs at least two candidate languages")
                builder = LanguageDetectorBuilder.from_languages(*languages).with_minimum_relative_distance(0.1)
                detector = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()
                _detectors[key] = detector
    return detector


def detect_language(facts: TextFacts, *, candidates: tuple[str, ...], min_letters: int = 15,
                    min_cjk_chars: int = 2) -> str:
    """An ISO 639-1 code, or "und" when the turn is too short or the answer too close to call.
    `candidates` are the languages lingua chooses among for non-CJK text (at least two)."""
    cjk = facts.cjk_chars
    if cjk and cjk >= facts.words:
        if cjk < min_cjk_chars:
            return UNDETERMINED
        if facts.kana_chars:
            return "ja"
        if facts.hangul_chars > facts.han_chars:
            return "ko"
        return "zh"
    if facts.latin_letters < min_letters and len(facts.stripped) < min_letters * 2:
        return UNDETERMINED
    if facts.words < 3:
        return UNDETERMINED
    sample = facts.prose[:_SAMPLE]
    language = _detector(candidates, len(sample) >= _LONG_TEXT).detect_language_of(sample)
    if language is None:
        return UNDETERMINED
    return language.iso_code_639_1.name.lower()
