"""The cleaning rules: small pure functions, each with a name, a version and parameters.

A message rule sees one turn (`MessageView`: its text, role and measurements); a session
rule sees the whole transcript. A rule returns a `Hit` (with a reason) or None. Fix rules
return the repaired text in `Hit.text`; they run first, and every later rule sees the
repaired text. Bump a rule's `version` whenever its behaviour changes: stored results are
keyed by rule, version and parameters, so a re-run adds new results next to the old ones.

Thresholds are tuned for chat turns, which are short and often Chinese: lengths count
characters for CJK and words for other scripts, and ratio rules are not applied to turns too
short for a ratio to mean anything.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import ftfy
import opencc
from django.conf import settings
from ftfy.badness import is_bad

from flywheel.cleaning.langid import UNDETERMINED, detect_language
from flywheel.cleaning.text import TextFacts

DROP, FLAG, FIX = "drop", "flag", "fix"
ACTIONS = (DROP, FLAG, FIX)


@dataclass(frozen=True)
class Hit:
    reason: str
    detail: dict = field(default_factory=dict)
    text: str | None = None  # the repaired text (fix rules only)


@dataclass
class MessageView:
    """One transcript turn as the rules see it."""

    role: str
    text: str
    language: str = ""
    facts: TextFacts = field(init=False)

    def __post_init__(self):
        self.facts = TextFacts(self.text)

    def replace_text(self, text: str) -> None:
        self.text = text
        self.facts = TextFacts(text)


@dataclass(frozen=True)
class Rule:
    name: str
    version: int
    title: str
    description: str
    func: Callable
    target: str = "message"  # or "session"
    roles: frozenset[str] | None = None  # message rules: the roles they look at (None: all)
    action: str = FLAG
    params: dict = field(default_factory=dict)
    enabled: bool = True

    @property
    def is_fix(self) -> bool:
        return self.action == FIX

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        return (FIX,) if self.is_fix else (DROP, FLAG)


RULES: dict[str, Rule] = {}


def rule(
    name: str,
    *,
    version: int,
    title: str,
    target: str = "message",
    roles=None,
    action: str = FLAG,
    params: dict | None = None,
    enabled: bool = True,
):
    def register(func):
        RULES[name] = Rule(
            name=name,
            version=version,
            title=title,
            description=(func.__doc__ or "").strip(),
            func=func,
            target=target,
            roles=frozenset(roles) if roles else None,
            action=action,
            params=dict(params or {}),
            enabled=enabled,
        )
        return func

    return register


# --- fixes ----------------------------------------------------------------------------------

_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=1)
def _ftfy_config():
    # Only encoding repairs: width, quotes, ligatures and HTML entities are left alone, since
    # fullwidth punctuation is normal Chinese and entities may be the user's own text.
    return ftfy.TextFixerConfig(
        unescape_html=False,
        fix_character_width=False,
        uncurl_quotes=False,
        fix_latin_ligatures=False,
        fix_line_breaks=False,
        normalization=None,
        explain=False,
    )


@rule("mojibake", version=1, title="Mojibake repair (ftfy)", action=FIX)
def mojibake(message: MessageView, params: dict) -> Hit | None:
    """Repairs text decoded with the wrong encoding ("æ€Žä¹ˆ" → "怎么") and strips terminal
    escapes and control characters."""
    text = message.text
    if text.isascii() and not _ASCII_CONTROL.search(text) and "\x1b" not in text:
        return None

    fixed = ftfy.fix_text(text, _ftfy_config())
    if fixed == text:
        return None
    return Hit("repaired mis-decoded text", {"chars_before": len(text), "chars_after": len(fixed)}, text=fixed)


_opencc_lock = threading.Lock()
_opencc = None


def _t2s(text: str) -> str:
    global _opencc
    with _opencc_lock:
        if _opencc is None:
            _opencc = opencc.OpenCC("t2s")
        return _opencc.convert(text)


@rule(
    "traditional_to_simplified", version=1, title="Traditional → Simplified Chinese (OpenCC)", action=FIX, enabled=False
)
def traditional_to_simplified(message: MessageView, params: dict) -> Hit | None:
    """Converts Traditional Chinese characters to Simplified (off by default: some products
    serve Traditional Chinese users on purpose)."""
    if not message.facts.han_chars:
        return None
    converted = _t2s(message.text)
    if converted == message.text:
        return None
    changed = sum(1 for a, b in zip(message.text, converted) if a != b)
    return Hit(f"converted {changed} Traditional characters", {"changed_chars": changed}, text=converted)


# --- checks on one turn -----------------------------------------------------------------------

_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff\u00ad]+")


@rule("empty", version=1, title="Empty or whitespace-only", action=DROP)
def empty(message: MessageView, params: dict) -> Hit | None:
    """A turn with no visible character (spaces, zero-width characters only)."""
    if _INVISIBLE.sub("", message.text):
        return None
    return Hit("empty or whitespace-only turn")


@rule("length", version=1, title="Length bounds", action=FLAG, params={"min_units": 1, "max_units": 4000})
def length(message: MessageView, params: dict) -> Hit | None:
    """Too short or too long, counted in characters for Chinese and words for English."""
    units = message.facts.units
    if not message.facts.stripped:
        return None  # the empty rule's case
    if units < params["min_units"]:
        return Hit(f"too short: {units} units (minimum {params['min_units']})", {"units": units})
    if units > params["max_units"]:
        return Hit(f"too long: {units} units (maximum {params['max_units']})", {"units": units})
    return None


def _repeated_share(items: list) -> float:
    return 1.0 - len(set(items)) / len(items) if items else 0.0


@rule(
    "repetition",
    version=1,
    title="Character n-gram and line repetition",
    action=DROP,
    params={"ngram": 10, "ngram_cjk": 3, "max_ratio": 0.5, "min_chars": 20, "max_line_ratio": 0.5, "min_lines": 4},
)
def repetition(message: MessageView, params: dict) -> Hit | None:
    """Degenerate repetition: the share of repeated character n-grams (shorter n-grams for
    Chinese, where one character carries a word), or of repeated lines."""
    facts = message.facts
    text = facts.collapsed
    if len(text) >= params["min_chars"]:
        n = params["ngram_cjk"] if facts.mostly_cjk else params["ngram"]
        grams = [text[i : i + n] for i in range(len(text) - n + 1)]
        ratio = _repeated_share(grams)
        if ratio > params["max_ratio"]:
            return Hit(f"{ratio:.0%} of {n}-character sequences are repeats", {"ratio": round(ratio, 3), "n": n})
    lines = [line.strip() for line in facts.prose.splitlines() if line.strip()]
    if len(lines) >= params["min_lines"]:
        ratio = _repeated_share(lines)
        if ratio > params["max_line_ratio"]:
            return Hit(f"{ratio:.0%} of lines are repeats", {"line_ratio": round(ratio, 3)})
    return None


# ASCII-style symbols and punctuation. Emoji (and their joiners) are ordinary chat, and so is
# CJK punctuation: a list of film titles is half 《》、 and still a fine message.
_SPECIAL = re.compile(r"[^\w\s\U0001F000-\U0001FAFF\u2600-\u27BF\u200d\ufe0f\u3000-\u303f\uff00-\uffef\u2026\u2014]")
_NON_SPACE = re.compile(r"\S")


@rule(
    "special_characters",
    version=1,
    title="Special-character ratio",
    action=DROP,
    params={"max_ratio": 0.45, "min_chars": 10},
)
def special_characters(message: MessageView, params: dict) -> Hit | None:
    """Mostly symbols or punctuation ("????!!!!", "$$$ ... $$$"), not counting code blocks."""
    prose = message.facts.prose
    visible = len(_NON_SPACE.findall(prose))
    if visible < params["min_chars"]:
        return None
    ratio = len(_SPECIAL.findall(prose)) / visible
    if ratio > params["max_ratio"]:
        return Hit(f"{ratio:.0%} of visible characters are symbols or punctuation", {"ratio": round(ratio, 3)})
    return None


_BAD_CHARS = re.compile("[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff\U000f0000-\U0010ffff]")


@rule("garbled", version=1, title="Garbled text", action=DROP, params={"max_bad_ratio": 0.02, "min_bad_chars": 2})
def garbled(message: MessageView, params: dict) -> Hit | None:
    """Replacement characters, control or private-use characters, or mojibake that could
    not be repaired."""
    text = message.text
    if not text:
        return None
    bad = len(_BAD_CHARS.findall(text))
    if bad >= params["min_bad_chars"] and bad / len(text) > params["max_bad_ratio"]:
        return Hit(f"{bad} unreadable characters", {"bad_chars": bad})
    if not text.isascii():
        if is_bad(text):
            return Hit("looks like mis-decoded text that could not be repaired")
    return None


@rule(
    "language",
    version=1,
    title="Language",
    action=FLAG,
    params={"allowed": ["zh", "en"], "min_letters": 20, "min_cjk_chars": 2, "min_confidence": 0.7},
)
def language(message: MessageView, params: dict) -> Hit | None:
    """Turns in a language the product does not serve. Not trusted on very short turns, nor
    when the identifier is unsure: those are "und" (undetermined) and never flagged."""
    detection = detect_language(
        message.facts,
        candidates=settings.FLYWHEEL_CLEANING_LANGUAGES,
        min_letters=params["min_letters"],
        min_cjk_chars=params["min_cjk_chars"],
    )
    sure = detection.confidence >= params["min_confidence"]
    message.language = detection.language if sure else UNDETERMINED
    if not sure or detection.language == UNDETERMINED or detection.language in params["allowed"]:
        return None
    return Hit(
        f"language {detection.language} ({detection.confidence:.0%} sure) is not one of {', '.join(params['allowed'])}",
        {"language": detection.language, "confidence": round(detection.confidence, 3)},
    )


# Matched on lower-cased text (cheaper than re.I for long alternations).
_DISCLAIMERS = [
    r"as an? (?:ai|a\.i\.|artificial intelligence)\b(?: language model| assistant| model| chatbot)?",
    r"as a (?:large )?language model\b",
    r"i(?:'m| am) (?:just |only )?an? (?:ai|artificial intelligence|language model)\b",
    r"i (?:do not|don't) have (?:personal )?(?:opinions|feelings|emotions|beliefs|preferences)\b",
    r"作为一?个?(?:ai|人工智能)(?:语言模型|助手|模型|程序)?",
    r"作为一?个?(?:大型)?语言模型",
    r"我(?:只)?是一?个?(?:ai|人工智能)",
    r"我没有个人(?:观点|感情|情感|意见|喜好)",
]
_REFUSALS = [
    r"i(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:can(?:not|'t)|am unable to|won't|will not)\b",
    r"i (?:can(?:not|'t)|am unable to|won't|will not) (?:help|assist|provide|fulfill|comply|do that|answer)\b",
    r"i must (?:decline|refuse)\b",
    r"(?:抱歉|对不起|很遗憾)[，,]?\s*我(?:无法|不能|没办法|不可以)",
    r"我(?:无法|不能)(?:回答|提供|帮助|满足|完成|协助)",
]
_DISCLAIMER = re.compile(r"(?<![a-z])(?:" + "|".join(_DISCLAIMERS) + ")")
_REFUSAL = re.compile(r"(?<![a-z])(?:" + "|".join(_REFUSALS) + ")")
# Every stock phrase above contains one of these; most answers contain none and skip the scan.
_STOCK_HINT = re.compile(
    r" ai\b|a\.i\.|artificial|language model|opinions|feelings|emotions|beliefs|preferences"
    r"|sorry|afraid|i can|i cannot|i am unable|i won|i will not|i must|作为|我是|我只是|我没有"
    r"|我无法|我不能|抱歉|对不起|很遗憾"
)


@lru_cache(maxsize=64)
def _compiled_extra(patterns: tuple[str, ...]) -> re.Pattern | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None


@rule(
    "boilerplate",
    version=1,
    title="Boilerplate refusals and AI disclaimers",
    action=FLAG,
    roles={"assistant"},
    params={"extra_patterns": []},
)
def boilerplate(message: MessageView, params: dict) -> Hit | None:
    """Answers built from stock phrases: "As an AI language model", "作为一个AI语言模型",
    "I'm sorry, but I can't", "抱歉，我无法" (plus any patterns configured)."""
    text = message.facts.prose
    lowered = text.lower().replace("\u2019", "'")
    stock = _STOCK_HINT.search(lowered) is not None
    for kind, pattern, subject in (
        ("AI disclaimer", _DISCLAIMER if stock else None, lowered),
        ("refusal", _REFUSAL if stock else None, lowered),
        ("configured pattern", _compiled_extra(tuple(params["extra_patterns"])), text),
    ):
        match = pattern.search(subject) if pattern is not None else None
        if match:
            return Hit(f"{kind}: {match.group()[:60]!r}", {"kind": kind})
    return None


_TERMINAL = set(".!?。！？…~～」』\"'”’)）]】>*`_|}")
_CONTINUATION = set(",，、:：;；-—–(（[【")
# Sentence-final particles: a Chinese chat turn ending with one is complete without punctuation.
_FINAL_PARTICLES = set("呢吧啊呀哦嘛啦哈了的吗哇喔噢咯嘞么")
_CJK_CLOSING = re.compile("[。！？!?]")
_FUNCTION_WORDS = frozenset(
    "the a an to of and or but with for in on at by from that which is are was were be been my your their this "
    "these those as if then than so because into onto".split()
)
_LAST_WORD = re.compile(r"([A-Za-z]+)$")
_LIST_OR_TABLE = re.compile(r"^\s*(?:[-*+]|\d+[.)]|\||#)")


@rule(
    "truncated",
    version=1,
    title="Answer cut off mid-sentence",
    action=FLAG,
    roles={"assistant"},
    params={"min_units": 8},
)
def truncated(message: MessageView, params: dict) -> Hit | None:
    """An answer that stops mid-sentence: an unclosed code block, a trailing comma or colon,
    a dangling "the"/"to", or Chinese that closes its earlier sentences but not the last."""
    facts = message.facts
    text = facts.stripped
    if facts.units < params["min_units"]:
        return None
    if text.count("```") % 2:
        return Hit("code block is never closed")
    last = text[-1]
    if last in _CONTINUATION:
        return Hit(f"ends with {last!r}")
    if last in _TERMINAL or unicodedata.category(last).startswith("S"):
        return None
    last_line = text.rsplit("\n", 1)[-1]
    if _LIST_OR_TABLE.match(last_line):
        return None
    word = _LAST_WORD.search(text[-40:])
    if word and word.group(1).lower() in _FUNCTION_WORDS:
        return Hit(f"ends with {word.group(1)!r}")
    # Chinese chat often ends without "。"; only an answer that closes its other sentences
    # and then stops on a bare character reads as cut off.
    if (
        facts.mostly_cjk
        and unicodedata.category(last).startswith("L")
        and last not in _FINAL_PARTICLES
        and _CJK_CLOSING.search(text)
    ):
        return Hit("Chinese answer stops without closing its last sentence")
    return None


_TAG_NAMES = (
    "html|head|body|div|span|p|br|hr|a|img|script|style|iframe|table|thead|tbody|tr|td|th|ul|ol|li|b|i|u|"
    "strong|em|font|meta|link|input|form|button|svg|section|article|h[1-6]|center|small|sup|sub|label"
)
_MARKUP = re.compile(
    rf"</?(?:{_TAG_NAMES})\b[^<>]{{0,200}}/?>|&(?:nbsp|amp|lt|gt|quot|apos|#\d{{2,6}}|#x[0-9a-f]{{2,5}});"
    r"|\[/?(?:url|img|b|i|u|quote|color|size|code)(?:=[^\]]*)?\]",
    re.I,
)


@rule("markup", version=1, title="HTML / markup residue", action=FLAG, params={"min_hits": 1})
def markup(message: MessageView, params: dict) -> Hit | None:
    """HTML tags, HTML entities or BBCode outside code blocks: scraped or pasted residue (or
    a hostile payload, which is kept as data and never rendered)."""
    found = _MARKUP.findall(message.facts.prose)
    if len(found) >= params["min_hits"]:
        return Hit(f"{len(found)} markup fragments, first {found[0][:40]!r}", {"count": len(found)})
    return None


@lru_cache(maxsize=64)
def _word_pattern(words: tuple[str, ...]) -> re.Pattern | None:
    words = tuple(w for w in words if w.strip())
    if not words:
        return None
    return re.compile("|".join(re.escape(w.strip().casefold()) for w in sorted(words, key=len, reverse=True)))


@rule("sensitive_words", version=1, title="Sensitive words", action=DROP, params={"words": []})
def sensitive_words(message: MessageView, params: dict) -> Hit | None:
    """Words from a configured list (matched case-insensitively, anywhere in the text)."""
    pattern = _word_pattern(tuple(params["words"]))
    if pattern is None:
        return None
    match = pattern.search(message.text.casefold())
    if match:
        return Hit(f"contains a listed word ({match.group()!r})", {"word": match.group()})
    return None


# --- checks on a whole session ------------------------------------------------------------------


@rule("no_assistant_answer", version=1, title="Session without an answer", target="session", action=DROP)
def no_assistant_answer(messages: list[MessageView], params: dict) -> Hit | None:
    """A session where the assistant never answered (nothing to learn from)."""
    if any(m.role == "assistant" and m.facts.stripped for m in messages):
        return None
    return Hit("no assistant answer in the session")
