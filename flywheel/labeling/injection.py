"""Heuristic detection of text that tries to steer a labeler or judge (prompt injection).

This is one of two alarms; the other is the labeler's own `steering_attempt` report. Either one
makes a label untrusted and sends it to label review. The patterns aim at text addressed to a
model that grades or follows instructions, in English and Chinese: "ignore previous
instructions", "rate this 5", "you are now ...", fake system prompts and chat-template tokens.
A false alarm costs a reviewer a look; a missed one would put a forged label into training data.
"""

from __future__ import annotations

import re
import unicodedata

_EN_PATTERNS: dict[str, str] = {
    "ignore_instructions": r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any|your|the|system)\b[^.\n]{0,30}\b(instructions?|prompts?|rules|directions|guidelines|context)\b",
    "new_instructions": r"\b(new|updated|real|actual)\s+(instructions?|task|system prompt)\s*[:：]",
    "you_are_now": r"\byou\s+are\s+now\b|\bfrom\s+now\s+on,?\s+you\b|\bpretend\s+(to\s+be|you\s+are)\b",
    "grading_request": r"\b(rate|score|grade|label|mark|classify|evaluate)\s+(this|it|the\s+(conversation|answer|response|dialogue))\b[^.\n]{0,30}\b(5|five|10|ten|100|highest|max(imum)?|perfect|full\s+marks|as\s+(safe|usable|excellent|high[- ]quality))\b",
    "give_score": r"\b(give|assign|award)\s+(this|it|me|the\s+\w+)?\s*(a\s+)?(score\s+of\s+)?(5|five|10|ten|full\s+marks|a\s+perfect\s+score|the\s+highest\s+(score|rating))\b",
    "address_grader": r"\b(to|dear|attention|note\s+to)\s+(the\s+)?(ai|model|llm|assistant|annotator|grader|evaluator|labeler|labeller|judge|reviewer)\s+(that\s+is\s+)?(reading|grading|evaluating|labell?ing|reviewing|judging|scoring)\b",
    "score_field": r"[\"']?(score|rating|quality|helpfulness|usable|safety_flag|steering_attempt)[\"']?\s*[:=]\s*[\"']?(5|10|true|false|yes)\b",
    "system_prompt": r"(^|\n)\s*(\[?system\]?\s*[:：]|\[/?inst\]|<<\s*/?sys\s*>>|###\s*(system|instruction)s?\b)",
    "template_token": r"<\|(im_start|im_end|system|endoftext|eot_id|start_header_id|end_header_id)\|>",
    "reveal_prompt": r"\b(reveal|print|show|repeat)\s+(your|the)\s+(system\s+prompt|instructions|hidden\s+prompt)\b",
    "jailbreak": r"\b(jailbreak|do\s+anything\s+now|developer\s+mode)\b",
}

_ZH_PATTERNS: dict[str, str] = {
    "ignore_instructions": r"(忽略|无视|忘记|忘掉|跳过|不要理会|不用管)[^。\n]{0,12}(之前|以上|上面|前面|先前|所有|一切|原来|原有|系统)?[^。\n]{0,6}(的)?(指令|指示|提示|规则|要求|设定|说明|命令)",
    "you_are_now": r"(你现在是|从现在起你|从现在开始你|你的新身份|假装你是|扮演一个不受限制)",
    "grading_request": r"(给|请给|帮我给|为)[^。\n]{0,10}(打|评|给)[^。\n]{0,4}(5|五|10|十|100|一百|满|最高)\s*(分|星)",
    "score_claim": r"(评分|打分|得分|分数|质量分)\s*(为|是|：|:|=)\s*(5|五|10|十|满分|最高)",
    "label_as": r"(标注|标记|判定|评为|归类)\s*(为|成)\s*(安全|可用|优秀|高质量|无害)",
    "address_grader": r"(致|告诉|提醒)\s*(正在)?(评分|打分|标注|审核|评估)(的)?(模型|AI|人工智能|助手|系统|员)",
    "system_prompt": r"(^|\n)\s*(系统提示|系统消息|系统指令|【系统】|\[系统\])\s*[:：]?",
    "reveal_prompt": r"(输出|显示|告诉我|重复)[^。\n]{0,6}(你的)?(系统提示词|系统提示|初始指令|隐藏指令)",
}

_COMPILED = [(f"en:{name}", re.compile(p, re.IGNORECASE)) for name, p in _EN_PATTERNS.items()] + [
    (f"zh:{name}", re.compile(p)) for name, p in _ZH_PATTERNS.items()
]


def _normalise(text: str) -> str:
    # NFKC folds full-width letters and digits (ｉｇｎｏｒｅ, ５) that would slip past the patterns.
    text = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)  # zero-width characters split words


def steering_signals(texts: list[str]) -> list[dict]:
    """[{"signal": "en:ignore_instructions", "excerpt": "..."}] for every pattern that matches
    any of the texts (one entry per signal)."""
    found: dict[str, str] = {}
    for text in texts:
        normalised = _normalise(text)
        for name, pattern in _COMPILED:
            if name in found:
                continue
            match = pattern.search(normalised)
            if match:
                start = max(0, match.start() - 20)
                found[name] = normalised[start : match.end() + 20].strip()[:120]
    return [{"signal": name, "excerpt": excerpt} for name, excerpt in found.items()]
