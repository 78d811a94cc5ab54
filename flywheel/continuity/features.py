"""Features of a user turn and its history, for the continuity classifier.

Pure functions over plain conversations (`[{"role": ..., "content": ...}, ...]`), no database:
the same code serves training, the pipeline and `continuity_predict`.

What the features look at, and why they should carry over to conversations we have not seen:
- semantic closeness (sentence embeddings) of the turn to the previous user turn, the previous
  answer, the nearest and the average of the earlier messages (the default embedding is
  multilingual; `cjk_share` still lets the classifier weigh them per language, and a user's
  English-only model);
- lexical overlap that works without a word segmenter: character 2/3-grams for Chinese, words and
  character 3-grams for Latin script; the longest shared substring (a shared name or title);
  titles and capitalised names the turn brings that the history never mentioned;
- conversational cues in English and Chinese: anaphora (it / that / 他 / 这部), elliptic
  follow-ups (what about ... / ...呢？), short replies to a question the assistant asked, and
  openers that start a new conversation (hello / 你好 / by the way / 换个话题 / do you know ...).
Nothing counts turn positions or dataset-specific tokens: a classifier must not learn where a
particular generator tends to splice.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

FEATURE_NAMES = (
    "emb_prev_user",
    "emb_prev_answer",
    "emb_history_max",
    "emb_history_mean",
    "emb_first_user",
    "cjk_share",
    "lex_prev_answer",
    "lex_prev_user",
    "lex_recent",
    "lex_history",
    "lex_answer_into_turn",
    "shared_span_recent",
    "shared_span_history",
    "new_names",
    "known_names",
    "starts_with_follow_up",
    "has_anaphora",
    "elliptic_question",
    "answers_a_question",
    "opens_new_topic",
    "greets",
    "log_len_turn",
    "log_len_prev_user",
    "lex_new_in_prev_answer",
    "lex_earlier",
    "has_reply",
    "emb_reply_recent",
    "emb_reply_history_max",
    "lex_reply_recent",
    "lex_reply_history",
    "bigram_recent",
    "asks_about_the_other",
)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-z0-9][a-z0-9'’-]*")
_TITLE = re.compile(r"《([^》]{1,40})》|【([^】]{1,40})】|“([^”]{2,30})”|\"([^\"]{2,30})\"")
# Transliterated foreign names are written with a middle dot (瑞恩·高斯林): a name without a segmenter.
_TRANSLITERATED = re.compile(r"([\u4e00-\u9fff]{1,8})([·•・])([\u4e00-\u9fff]{1,8})")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z]{2,}(?:\s+[A-Z][a-zA-Z]+)*)")

_EN_STOP = frozenset(
    """a an the and or but if so of to in on at by for with from as is are was were be been being am do does did
    have has had i me my you your we our they them their he him his she her it its this that these those there
    here what which who whom whose when where why how can could would should will shall may might must not no
    yes just very really also too than then about into over under up down out more most some any all each other
    such only own same s t don doesn didn isn aren wasn weren won wouldn shouldn couldn can't i'm it's that's
    what's let let's get got make made know think want like please tell say said one two thing things way much
    many well ok okay oh ah um hi hello hey thanks thank""".split()
)
# Function characters that carry no topic on their own (particles, pronouns, copulas, measure words).
_ZH_STOP = frozenset(
    "的了吗呢吧啊呀哦嗯是在有和与就都也还又很太么么这那哪个些他她它们我你您啥什怎样么么啦哈对不没要会能可以到说"
)

_EN_FOLLOW_UP = (
    "it",
    "its",
    "it's",
    "that",
    "this",
    "those",
    "these",
    "they",
    "them",
    "their",
    "he",
    "she",
    "his",
    "her",
    "and",
    "also",
    "so",
    "but",
    "then",
    "why",
    "what about",
    "how about",
    "and what",
    "what else",
    "anything else",
    "any other",
    "another",
    "more",
    "same",
    "again",
    "ok",
    "okay",
    "yes",
    "yeah",
    "yep",
    "no",
    "nope",
    "sure",
    "thanks",
    "thank you",
    "great",
    "cool",
    "i see",
    "really",
    "which one",
    "how so",
    "what do you mean",
    "can you explain",
    "tell me more",
    "go on",
    "else",
    "instead",
    "then what",
    "why not",
    "is that",
)
_ZH_FOLLOW_UP = (
    "他",
    "她",
    "它",
    "这",
    "那",
    "这个",
    "那个",
    "这部",
    "那部",
    "这首",
    "那首",
    "这本",
    "那本",
    "此",
    "该",
    "还有",
    "还",
    "那么",
    "然后",
    "所以",
    "为什么",
    "为啥",
    "怎么",
    "是吗",
    "真的",
    "对",
    "对的",
    "是的",
    "好的",
    "嗯",
    "哦",
    "噢",
    "啊",
    "哈",
    "确实",
    "没错",
    "不过",
    "但是",
    "而且",
    "另外他",
    "其他",
    "别的",
    "再",
    "也",
)
_ZH_ANAPHORA = re.compile(r"[他她它]|这[个部首本位些种样里]|那[个部首本位些种样里]|此[片曲书人]|该[片曲书]|其[他它中]")
_EN_ANAPHORA = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|that one|this one|those|these|the same)\b")
_EN_NEW_TOPIC = re.compile(
    r"^(by the way|btw|another question|new question|different question|unrelated|on another note|"
    r"changing the subject|can you tell me about|tell me about|do you know|have you heard|what is|what are|"
    r"how do i|how can i|i need|i want|i have a question|question:)",
)
_ZH_NEW_TOPIC = re.compile(
    r"^(顺便|另外问|换个话题|换个问题|问个问题|请问|我想问|有个问题|再问|说到|你知道|知道|你听说过|听说过|你看过|看过|"
    r"你听过|听过|有没有|你了解|了解|你喜欢|喜欢|帮我|请帮|能不能帮|我想)"
)
# A question about the other person ("do you like ...?", "你平时喜欢...吗"): how chit-chat opens a
# new subject, at the start of the turn or after a first sentence ("cool . do you ...").
# How a caller or a chat user announces a change of subject in Chinese ("还有一个问题", "另外",
# "对了", "我再问一下"), after the fillers a transcribed call starts with ("嗯", "喂", "那个").
# Without this, "还有" and "对" read as a follow-up ("还有呢？", "对，就是它").
_ZH_SHIFT_MARKER = re.compile(
    r"^(?:[嗯啊哦噢喂哎诶呃好行那\s,，。、.!！]|那个|就是|然后|好的|行吧)*"
    r"(?:还有(?:一个|个|一件|件|一点|点)?(?:问题|事|事情|疑问)|另外(?![他她它这那])|对了|顺便|换个|"
    r"我?还(?:想|要)(?:问|咨询|了解|办)|我?再(?:问|咨询)一?下|(?:其他|别的|另一个|另外一个)(?:问题|事))"
)
_EN_SHIFT_MARKER = re.compile(
    r"^(?:(?:ok|okay|right|great|thanks|thank you|cool)\W+)*(?:one more (?:thing|question)|something else|"
    r"(?:also|and),? (?:i have|i've got) (?:another|a different|one more) (?:question|issue|problem)|"
    r"(?:oh|and|also),? (?:by the way|btw)|(?:another|a different|a separate) (?:question|issue|problem|topic))"
)
_ASKS_ABOUT_YOU = re.compile(
    r"(?:^|[.!?。！？,，]\s*)(?:(?:so|and|but|well)\s+)?(?:(?:do|did|are|were|have|would|can)\s+you\b|"
    r"(?:what|where|how|which)\s+(?:do|did|are|is|were)\s+(?:you|your)\b|what(?:'s|\s+is)\s+your\b|"
    r"tell\s+me\s+about\s+(?:you|your)\b)"
    r"|你(?:平时|喜欢|觉得|是做|有没有|去过|看过|听过|玩过|养|会不会|最喜欢|一般)",
)
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|good (?:morning|afternoon|evening)|greetings)\b|你好|您好|嗨|哈喽|早上好|晚上好|下午好)"
)
_ASKS = re.compile(r"[?？]\s*$|吗\W*$|呢\W*$")


# --- text helpers ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _to_simplified() -> Callable[[str], str]:
    try:
        import opencc  # optional: without it, only traditional-vs-simplified overlap is lost

        converter = opencc.OpenCC("t2s")
        return converter.convert
    except Exception:  # OpenCC missing: traditional text only loses some overlap, nothing breaks
        return lambda text: text


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    if _CJK.search(text):
        text = _to_simplified()(text)
    return text.strip()


def cjk_share(text: str) -> float:
    letters = [ch for ch in text if not ch.isspace() and ch.isalnum()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _CJK.match(ch)) / len(letters)


def content_ngrams(text: str) -> frozenset[str]:
    """Topic-bearing n-grams: Chinese character bigrams and trigrams (skipping those made only of
    function characters), Latin content words and their character trigrams."""
    grams: set[str] = set()
    for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", text):
        for n in (2, 3):
            for i in range(len(run) - n + 1):
                gram = run[i : i + n]
                if not all(ch in _ZH_STOP for ch in gram):
                    grams.add(gram)
        if len(run) == 1 and run not in _ZH_STOP:
            grams.add(run)
    for word in _LATIN_WORD.findall(text.lower()):
        if word in _EN_STOP or len(word) < 3:
            continue
        stem = word[:-1] if word.endswith("s") and len(word) > 4 else word
        grams.add("w:" + stem)
        padded = f"#{stem}#"
        grams.update("c:" + padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def containment(part: frozenset[str], whole: frozenset[str]) -> float:
    """Share of `part`'s n-grams found in `whole` (asymmetric: a short turn fully about the
    history scores 1 even when the history is long)."""
    if not part:
        return 0.0
    return len(part & whole) / len(part)


def char_bigrams(text: str) -> frozenset[str]:
    """Pairs of adjacent letters or digits, case-folded, punctuation and spaces dropped."""
    chars = [ch for ch in text.lower() if ch.isalnum()]
    return frozenset(a + b for a, b in zip(chars, chars[1:]))


def _topic_chars(text: str) -> str:
    return "".join(ch for ch in text.lower() if (ch.isalnum() and ch not in _ZH_STOP))


def longest_shared_span(a: str, b: str, *, cap: int = 24) -> int:
    """Length (up to `cap`) of the longest common substring of the topic characters: a shared
    name or title."""
    return _longest_shared(_topic_chars(a), _topic_chars(b), cap=cap)


def _longest_shared(a: str, b: str, *, cap: int = 24) -> int:
    """Binary search over the length; each probe looks for the pieces of `a` (a user turn, short)
    in `b` (the history, long) with the string search. Messages joined into `b` are separated by
    a newline, which no piece of `a` contains, so a span never crosses two messages."""
    a, b = a[:1000], b[-8000:]

    def shared(k: int) -> bool:
        return any(a[i : i + k] in b for i in range(len(a) - k + 1))

    low, high = 0, min(cap, len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if shared(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _span_score(a: str, a_topic: str, b_topic: str) -> float:
    """Latin letters count a quarter, so a shared English word scores like a shared Chinese one."""
    span = _longest_shared(a_topic, b_topic)
    latin = not _CJK.search(a)
    effective = span / 4 if latin else span
    return min(effective, 6.0) / 6.0


def names(text: str) -> set[str]:
    """Titles in 《》/【】/quotes and capitalised names: the things a turn is about."""
    found = {next(g for g in m.groups() if g).strip().lower() for m in _TITLE.finditer(text)}
    found.update(m.group(1).lower() for m in _CAPITALISED.finditer(text) if m.group(1).lower() not in _EN_STOP)
    # The two characters either side of the dot identify the name (no segmenter to find its ends).
    found.update(f"{m.group(1)[-2:]}{m.group(2)}{m.group(3)[:2]}" for m in _TRANSLITERATED.finditer(text))
    return {n for n in found if n}


def _starts_with(text: str, cues: Sequence[str]) -> bool:
    lowered = text.lower().lstrip(" \"'“‘(（")
    for cue in cues:
        if lowered.startswith(cue):
            rest = lowered[len(cue) : len(cue) + 1]
            if _CJK.match(cue[0]) or not rest or not rest.isalnum():
                return True
    return False


def _words(text: str) -> int:
    return len(_LATIN_WORD.findall(text.lower())) + len(_CJK.findall(text))


# --- features ----------------------------------------------------------------------------------


def user_turn_positions(messages: Sequence[dict]) -> list[int]:
    return [i for i, m in enumerate(messages) if m.get("role") == "user"]


class _Conversation:
    """Per-message values computed once and shared by every turn of a conversation."""

    def __init__(self, messages: Sequence[dict], vectors: np.ndarray):
        self.messages = messages
        self.roles = [m.get("role") for m in messages]
        self.texts = [normalise(str(m.get("content") or "")) for m in messages]
        self.grams = [content_ngrams(t) for t in self.texts]
        self.bigrams = [char_bigrams(t) for t in self.texts]
        self.topics = [_topic_chars(t) for t in self.texts]
        self.lowered = [t.lower() for t in self.texts]
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True) if len(vectors) else np.zeros((0, 1), np.float32)
        self.unit = vectors / np.maximum(norms, 1e-12)
        self.cos = self.unit @ self.unit.T  # (M, M) cosine of every pair of messages

    def cos_mean(self, position: int, indices: list[int]) -> float:
        """Cosine of the message at `position` with the mean of the vectors at `indices`."""
        if not indices:
            return 0.0
        mean = self.unit[indices].mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return float(self.unit[position] @ mean / norm) if norm > 0 else 0.0


def _union(sets: Sequence[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*sets) if sets else frozenset()


def turn_features(c: _Conversation, position: int) -> list[float]:
    """Features of the user turn at `position` given every message before it (and its reply)."""
    messages, texts, grams, cos = c.messages, c.texts, c.grams, c.cos
    turn = texts[position]
    users_before = [i for i in range(position) if c.roles[i] == "user"]
    prev_user = users_before[-1]
    answers_between = [i for i in range(prev_user + 1, position) if c.roles[i] != "user"]
    prev_answer = answers_between[-1] if answers_between else None
    history = [i for i in range(position) if texts[i]]
    recent = [i for i in history if i >= prev_user]
    earlier = [i for i in history if i < prev_user]
    # The answer to this turn (when the log has one) shows what the turn was really about.
    reply = next((i for i in range(position + 1, len(messages)) if c.roles[i] != "user" and texts[i]), None)
    if reply is not None and any(c.roles[i] == "user" for i in range(position + 1, reply)):
        reply = None

    history_grams = _union([grams[i] for i in history])
    recent_grams = _union([grams[i] for i in recent])
    earlier_grams = _union([grams[i] for i in earlier])
    before_answer = _union([grams[i] for i in history if prev_answer is None or i < prev_answer])
    recent_topics = "\n".join(c.topics[i] for i in recent)
    history_topics = "\n".join(c.topics[i] for i in history)

    turn_names = names(turn)
    history_lower = "\n".join(c.lowered[i] for i in history)
    new_names = sum(1 for n in turn_names if n not in history_lower)
    known_names = len(turn_names) - new_names

    lowered = c.lowered[position]
    prev_answer_text = texts[prev_answer] if prev_answer is not None else ""
    short = _words(turn) <= 12
    shift_marker = bool(_ZH_SHIFT_MARKER.match(turn) or _EN_SHIFT_MARKER.match(lowered))
    last_exchange = c.bigrams[prev_user] | (c.bigrams[prev_answer] if prev_answer is not None else frozenset())
    return [
        float(cos[position, prev_user]),
        float(cos[position, prev_answer]) if prev_answer is not None else 0.0,
        float(cos[position, history].max()) if history else 0.0,
        c.cos_mean(position, history),
        float(cos[position, users_before[0]]),
        cjk_share(turn),
        containment(grams[position], grams[prev_answer]) if prev_answer is not None else 0.0,
        containment(grams[position], grams[prev_user]),
        containment(grams[position], recent_grams),
        containment(grams[position], history_grams),
        containment(grams[prev_answer], grams[position]) if prev_answer is not None else 0.0,
        _span_score(turn, c.topics[position], recent_topics),
        _span_score(turn, c.topics[position], history_topics),
        min(new_names, 3) / 3,
        min(known_names, 3) / 3,
        float(not shift_marker and (_starts_with(turn, _EN_FOLLOW_UP) or _starts_with(turn, _ZH_FOLLOW_UP))),
        float(bool(_ZH_ANAPHORA.search(turn) or _EN_ANAPHORA.search(lowered))),
        float(
            short
            and bool(
                re.search(r"呢\W*$", turn)
                or re.match(r"^(what|how) about\b", lowered)
                or re.match(r"^(and|or) ", lowered)
            )
        ),
        float(bool(prev_answer_text and _ASKS.search(prev_answer_text)) and short),
        float(bool(shift_marker or _EN_NEW_TOPIC.match(lowered) or _ZH_NEW_TOPIC.match(turn))),
        float(bool(_GREETING.match(lowered))),
        math.log1p(_words(turn)) / 5,
        math.log1p(_words(texts[prev_user])) / 5,
        # Drift: the turn picks up something the last answer introduced, not the older topic.
        containment(grams[position] - before_answer, grams[prev_answer]) if prev_answer is not None else 0.0,
        containment(grams[position], earlier_grams),
        float(reply is not None),
        c.cos_mean(reply, recent) if reply is not None else 0.0,
        float(cos[reply, history].max()) if reply is not None and history else 0.0,
        containment(grams[reply], recent_grams) if reply is not None else 0.0,
        containment(grams[reply], history_grams) if reply is not None else 0.0,
        # The baseline the classifier is measured against: char-bigram overlap with the last exchange.
        containment(c.bigrams[position], last_exchange),
        float(bool(_ASKS_ABOUT_YOU.search(lowered))),
    ]


def conversation_features(messages: Sequence[dict], vectors: np.ndarray) -> tuple[list[int], np.ndarray]:
    """(positions of the user turns after the first, their feature rows). `vectors` holds one
    embedding per message, of the normalised text."""
    positions = user_turn_positions(messages)[1:]
    if not positions:
        return positions, np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    shared = _Conversation(messages, vectors)
    rows = [turn_features(shared, p) for p in positions]
    return positions, np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURE_NAMES))


def conversations_features(
    conversations: Sequence[Sequence[dict]], embed: Callable[[list[str]], np.ndarray]
) -> list[tuple[list[int], np.ndarray]]:
    """Features of many conversations, embedding every distinct message text once."""
    unique: dict[str, int] = {}
    for messages in conversations:
        for m in messages:
            unique.setdefault(normalise(str(m.get("content") or "")), len(unique))
    texts = list(unique)
    table = embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    out = []
    for messages in conversations:
        index = [unique[normalise(str(m.get("content") or ""))] for m in messages]
        vectors = table[index] if index else np.zeros((0, table.shape[1] if table.ndim == 2 else 1), np.float32)
        out.append(conversation_features(messages, vectors))
    return out
