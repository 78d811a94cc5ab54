"""The offline labeler: for the embedded default and for teams without an LLM API.

Task type: a calibrated classifier over the multilingual embedding of the user's request
(classifier.py), trained on labelled requests kept in the repository. A task type less likely
than FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE is stored as uncertain and goes to label review,
rather than silently taking the likeliest type. Quality: heuristic signals from the transcript
(refusals, empty or very short answers, repetition, answers in another language than the
question, thumbs-down feedback, unsafe requests). These labels are marked source="offline" and
shown as such; weaker than an LLM's or a reviewer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flywheel.labeling.classifier import Prediction, min_confidence, task_type_model, text_language
from flywheel.labeling.injection import steering_signals
from flywheel.labeling.taxonomy import Taxonomy
from flywheel.llm.embeddings import embed_texts, embedding_model_name

OFFLINE_VERSION = "offline-v2"

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


def offline_model_name() -> str:
    return f"offline:{embedding_model_name()}"


@dataclass
class OfflineLabel:
    task_type: str
    task_subtype: str
    confidence: float
    uncertain: bool
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


def request_of(messages: list[dict]) -> str:
    """What a session asks: its first user turn, with the second when the first is too short to
    ask anything ("hi", "在吗"). The classifier reads the head and tail of a long one."""
    users = [m["content"] for m in messages if m["role"] == "user" and (m["content"] or "").strip()]
    if len(users) > 1 and len(users[0].strip()) < 12:
        return f"{users[0]}\n{users[1]}"
    return users[0] if users else ""


def label_offline(transcripts: list[dict], *, taxonomy: Taxonomy) -> list[OfflineLabel]:
    """Label many sessions at once. Each transcript: {"messages": [{"role", "content"}],
    "language": str (may be empty), "thumbs_down": int, "thumbs_up": int}."""
    if not transcripts:
        return []
    model = task_type_model(taxonomy)
    requests = [request_of(item["messages"]) for item in transcripts]
    predictions = model.predict(requests, embed_texts)
    return [_label_one(item, request, p) for item, request, p in zip(transcripts, requests, predictions)]


def _label_one(item: dict, request: str, prediction: Prediction) -> OfflineLabel:
    messages = item["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    task_type, subtype = prediction.task_type, prediction.task_subtype
    # An empty request has no task type to be sure of, whatever the classifier makes of "".
    confidence = prediction.confidence if request.strip() else 0.0
    uncertain = confidence < min_confidence()
    candidates = ", ".join(f"{t} {p:.2f}" for t, p in prediction.candidates)
    how = f"classifier, {'uncertain' if uncertain else 'confident'} ({candidates})"
    user_text, answer_text = " ".join(users), " ".join(answers)
    language = item.get("language") or text_language(user_text)

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
    raw = {
        "method": OFFLINE_VERSION,
        "task_type_by": "classifier",
        "confidence": round(confidence, 4),
        "candidates": [[t, p] for t, p in prediction.candidates],
        "problems": problems,
    }
    return OfflineLabel(
        task_type=task_type,
        task_subtype=subtype,
        confidence=confidence,
        uncertain=uncertain,
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
