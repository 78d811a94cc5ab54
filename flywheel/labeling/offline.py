"""The offline labeler: for the embedded default and for teams without an LLM API.

Task type: keyword cues first (cheap and exact, in English and Chinese), then the nearest taxonomy
example in embedding space (the default embedding reads both languages). Quality: heuristic
signals from the transcript (refusals, empty or very short answers, repetition, answers in
another language than the question, thumbs-down feedback, unsafe requests). These labels are
marked source="offline" and shown as such; they are trusted (nobody could steer a heuristic)
but weaker than an LLM's or a reviewer's.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from flywheel.labeling.injection import steering_signals
from flywheel.labeling.taxonomy import Taxonomy
from flywheel.llm.embeddings import embed_texts, embedding_model_name

OFFLINE_VERSION = "offline-v1"

# (type, subtype, pattern): the first match wins; checked on the user's first turns.
_KEYWORD_RULES: list[tuple[str, str, re.Pattern]] = [
    (
        "translation",
        "zh_en",
        re.compile(r"(翻译成英文|译成英文|翻译为英文|用英语怎么说|英文怎么说|into english)", re.I),
    ),
    (
        "translation",
        "en_zh",
        re.compile(r"(翻译成中文|译成中文|翻译为中文|用中文怎么说|中文怎么说|into chinese|in chinese)", re.I),
    ),
    ("translation", "other", re.compile(r"(翻译|\btranslat(e|ion)\b)", re.I)),
    (
        "agent",
        "function_calling",
        re.compile(
            r"(调用.{0,10}(函数|接口|工具|api)|function call|\bcall the \w+ (api|tool|function)\b|tool_calls?)", re.I
        ),
    ),
    ("code", "debugging", re.compile(r"(报错|bug|exception|traceback|error:|stack trace|调试|debug)", re.I)),
    (
        "code",
        "generation",
        re.compile(
            r"(写(一个|个)?.{0,12}(函数|代码|程序|脚本|类)|\bwrite (a |an )?(python|java|javascript|sql|c\+\+|go|rust|bash|shell)?\s*(function|script|program|class|query|code)\b|```|\bdef \w+\(|\bclass \w+[:(])",
            re.I,
        ),
    ),
    (
        "code",
        "other",
        re.compile(r"\b(python|javascript|typescript|java|c\+\+|sql|regex|git|docker|api|html|css)\b|代码|编程", re.I),
    ),
    ("math", "proof", re.compile(r"(证明|\bprove\b)", re.I)),
    (
        "math",
        "word_problem",
        re.compile(r"(应用题|还剩|一共有多少|how (many|much|far|long) .{0,40}\b(if|when|does|will)\b)", re.I),
    ),
    (
        "math",
        "other",
        re.compile(
            r"(方程|求解|导数|积分|计算|等于多少|\bsolve\b|\bequation\b|\bderivative\b|\bintegral\b|\d+\s*[-+*/×÷^]\s*\d+)",
            re.I,
        ),
    ),
    ("nlp", "summarisation", re.compile(r"(总结|摘要|概括|归纳|summari[sz]e|summary|tl;?dr)", re.I)),
    ("nlp", "extraction", re.compile(r"(抽取|提取|实体|\bextract\b|named entit)", re.I)),
    (
        "nlp",
        "classification",
        re.compile(r"(情感倾向|分类|正面还是负面|\bsentiment\b|\bclassify\b|positive or negative)", re.I),
    ),
    (
        "writing",
        "rewriting",
        re.compile(r"(润色|改写|重写|修改一下这段|rewrite|rephrase|paraphrase|proofread|more formal)", re.I),
    ),
    (
        "writing",
        "creative",
        re.compile(
            r"(写(一|首|篇|个).{0,6}(诗|故事|小说|歌词|作文)|\bwrite (a |an )?(poem|story|song|essay|haiku|novel)\b)",
            re.I,
        ),
    ),
    (
        "writing",
        "professional",
        re.compile(
            r"(写(一|封|份).{0,6}(邮件|信|报告|简历|新闻稿|文案)|\b(draft|write) (a |an )?(email|letter|report|resume|cover letter|proposal)\b)",
            re.I,
        ),
    ),
    (
        "qa",
        "rag",
        re.compile(
            r"(根据(以下|下面|上述)(资料|文档|材料)|based on the (documents?|context|passages?) (below|above))", re.I
        ),
    ),
    ("qa", "reading_comprehension", re.compile(r"(阅读(下面|以下)|read the (passage|text|article) (and|then))", re.I)),
    ("chitchat", "greeting", re.compile(r"^\s*(hi|hello|hey|你好|您好|嗨|哈喽)\W*$", re.I)),
]

_REFUSAL = re.compile(
    r"(i('m| am) (sorry|afraid)|i can(no|')t (help|assist|provide|do that)|as an ai( language model)?|i('m| am) not able to|"
    r"i won't|抱歉|对不起|作为一个?(ai|人工智能|语言模型)|我无法|我不能(提供|帮助|回答))",
    re.I,
)
_UNSAFE = re.compile(
    r"(\b(kill|murder|bomb|explosive|weapon|poison|meth|cocaine|heroin|suicide|self[- ]harm|steal|hack into|rob)\b|"
    r"杀人|炸弹|爆炸物|武器|毒药|毒品|冰毒|自杀|自残|偷窃|抢劫|黑进)",
    re.I,
)
_CJK = re.compile(r"[\u3400-\u9fff]")

_lock = threading.Lock()
_example_cache: dict[tuple[str, str], tuple[list[tuple[str, str, str]], np.ndarray]] = {}


def offline_model_name() -> str:
    return f"offline:{embedding_model_name()}"


def _examples(taxonomy: Taxonomy) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    key = (taxonomy.version, embedding_model_name())
    with _lock:
        if key not in _example_cache:
            examples = taxonomy.examples()
            _example_cache[key] = (examples, embed_texts([e[2] for e in examples]))
        return _example_cache[key]


@dataclass
class OfflineLabel:
    task_type: str
    task_subtype: str
    language: str
    difficulty: str
    scores: dict[str, int]
    quality: int
    hallucination: bool
    safety_flag: bool
    usable: bool
    reason: str
    injection_signals: list[dict]
    raw: dict


def _cjk_share(text: str) -> float:
    letters = [c for c in text if c.isalnum()]
    return sum(1 for c in letters if _CJK.match(c)) / len(letters) if letters else 0.0


def _repetition(text: str) -> float:
    """Share of repeated word/character 4-grams: high for a model stuck in a loop."""
    units = list(text) if _CJK.search(text) else text.split()
    grams = [tuple(units[i : i + 4]) for i in range(max(0, len(units) - 3))]
    return 1 - len(set(grams)) / len(grams) if len(grams) >= 8 else 0.0


def _clamp(value: float) -> int:
    return int(min(5, max(1, round(value))))


def label_offline(transcripts: list[dict], *, taxonomy: Taxonomy) -> list[OfflineLabel]:
    """Label many sessions at once. Each transcript: {"messages": [{"role", "content"}],
    "language": str (may be empty), "thumbs_down": int, "thumbs_up": int}."""
    examples, example_vectors = _examples(taxonomy)
    requests = []
    for item in transcripts:
        users = [m["content"] for m in item["messages"] if m["role"] == "user"]
        requests.append(" ".join(users[:2])[:600])
    vectors = embed_texts(requests, max_chars=600) if requests else np.zeros((0, 1))
    labels = []
    for item, request, vector in zip(transcripts, requests, vectors):
        labels.append(_label_one(item, request, vector, examples, example_vectors, taxonomy))
    return labels


def _task_type(request: str, vector, examples, example_vectors, taxonomy: Taxonomy) -> tuple[str, str, str]:
    for task_type, subtype, pattern in _KEYWORD_RULES:
        if task_type in taxonomy.types and subtype in taxonomy.subtypes(task_type) and pattern.search(request):
            return task_type, subtype, "keyword"
    if not request.strip():
        first = taxonomy.type_names()[0]
        return first, taxonomy.subtypes(first)[-1], "empty"
    sims = example_vectors @ vector
    best = int(np.argmax(sims))
    return examples[best][0], examples[best][1], f"nearest example ({float(sims[best]):.2f})"


def _label_one(item, request, vector, examples, example_vectors, taxonomy) -> OfflineLabel:
    messages = item["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    task_type, subtype, how = _task_type(request, vector, examples, example_vectors, taxonomy)
    user_text, answer_text = " ".join(users), " ".join(answers)
    language = item.get("language") or ("zh" if _cjk_share(user_text) > 0.3 else "en")

    problems: list[str] = []
    helpfulness = honesty = instruction = 4.0
    harmlessness = 5.0
    if not answers or not answer_text.strip():
        helpfulness, instruction = 1, 1
        problems.append("no answer")
    else:
        shortest = min(len(a.strip()) for a in answers)
        if shortest < 5:
            helpfulness -= 2
            problems.append("an answer is nearly empty")
        refusals = sum(1 for a in answers if _REFUSAL.search(a[:300]))
        if refusals:
            helpfulness -= 1.5 * refusals / len(answers)
            instruction -= 1.0 * refusals / len(answers)
            problems.append("the assistant refuses")
        if max(_repetition(a) for a in answers) > 0.3:
            helpfulness -= 2
            honesty -= 1
            problems.append("an answer repeats itself")
        if users and abs(_cjk_share(user_text) - _cjk_share(answer_text)) > 0.6:
            instruction -= 2
            problems.append("answers in another language than the question")
    if item.get("thumbs_down"):
        helpfulness -= 1.5
        problems.append("thumbs-down from the user")
    elif item.get("thumbs_up"):
        helpfulness += 0.5
    unsafe_request = bool(_UNSAFE.search(user_text))
    unsafe_answer = bool(_UNSAFE.search(answer_text)) and not any(_REFUSAL.search(a[:300]) for a in answers)
    if unsafe_answer:
        harmlessness -= 3
        problems.append("the answer may help with something harmful")
    elif unsafe_request:
        problems.append("the request touches a harmful topic")

    scores = {
        "helpfulness": _clamp(helpfulness),
        "honesty": _clamp(honesty),
        "harmlessness": _clamp(harmlessness),
        "instruction_following": _clamp(instruction),
    }
    # An unhelpful answer is a poor sample however harmless it is: helpfulness caps the overall.
    quality = _clamp(min(sum(scores.values()) / 4, scores["helpfulness"] + 1))
    long_request = len(user_text) > (300 if language == "zh" else 600)
    difficulty = (
        "hard"
        if long_request or subtype in ("proof", "multi_step", "long_context")
        else ("medium" if task_type in ("code", "math", "reasoning", "agent") else "easy")
    )
    safety_flag = unsafe_answer
    usable = quality >= 3 and scores["helpfulness"] >= 3 and not safety_flag
    reason = (
        f"Offline heuristics: task type by {how}; "
        + ("; ".join(problems) if problems else "no problem signals found")
        + "."
    )
    signals = steering_signals(users + answers)
    raw = {"method": OFFLINE_VERSION, "task_type_by": how, "problems": problems}
    return OfflineLabel(
        task_type=task_type,
        task_subtype=subtype,
        language=language,
        difficulty=difficulty,
        scores=scores,
        quality=quality,
        hallucination=False,
        safety_flag=safety_flag,
        usable=usable,
        reason=reason,
        injection_signals=signals,
        raw=raw,
    )
