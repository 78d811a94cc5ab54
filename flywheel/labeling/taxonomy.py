"""The two-level task taxonomy: nine top-level task types, each with subtypes and a few example
requests (English and Chinese). The examples document each type (the LLM labeler's prompt shows
the taxonomy) and are part of what the offline labeler learns from (see classifier.py); a custom
taxonomy's examples are all it learns from.

Nine top-level types, because the annotator page gives each answer one digit key. Each has an
"other" subtype, so the taxonomy is closed: a labeler always has somewhere to put a request.

Configure another taxonomy with FLYWHEEL_LABEL_TAXONOMY, the path of a JSON file of the same
shape: {"<type>": {"title": "...", "subtypes": {"<subtype>": ["example request", ...]}}}.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_TAXONOMY: dict[str, dict] = {
    "translation": {
        "title": "Translation",
        "subtypes": {
            "en_zh": [
                "Translate this paragraph into Chinese.",
                "How do you say 'good morning' in Chinese?",
                "把这句英文翻译成中文：The weather is nice today.",
            ],
            "zh_en": ["请把这段话翻译成英文。", "Translate 我爱学习 into English.", "这个成语用英语怎么说？"],
            "other": ["Translate this sentence into French.", "帮我把这句话翻译成日语。"],
        },
    },
    "code": {
        "title": "Code",
        "subtypes": {
            "generation": [
                "Write a Python function that reverses a linked list.",
                "用 JavaScript 写一个防抖函数。",
                "Write a SQL query that returns the top 5 customers by revenue.",
            ],
            "debugging": [
                "Why does my code throw a NullPointerException?",
                "这段代码报错 IndexError，怎么修？",
                "Fix the bug in this function: def add(a, b): return a - b",
            ],
            "explanation": ["Explain what this regular expression does.", "解释一下这段 Python 代码的作用。"],
            "other": ["Which programming language should I learn first?", "Git rebase 和 merge 有什么区别？"],
        },
    },
    "math": {
        "title": "Math",
        "subtypes": {
            "arithmetic": ["What is 17 times 23?", "计算 3.5 加 4.25 等于多少？"],
            "word_problem": [
                "A train travels 60 km/h for 2.5 hours. How far does it go?",
                "小明有 5 个苹果，给了小红 2 个，还剩几个？",
            ],
            "proof": ["Prove that the square root of 2 is irrational.", "证明三角形内角和等于 180 度。"],
            "other": ["Solve x^2 - 5x + 6 = 0.", "求函数 f(x)=x^3 的导数。"],
        },
    },
    "reasoning": {
        "title": "Reasoning",
        "subtypes": {
            "commonsense": [
                "If I leave a glass of water in a hot room for a week, what happens? Reason it out.",
                "如果一个杯子装满水，再放进一块冰，冰融化后水会溢出来吗？",
            ],
            "multi_step": [
                "Alice is older than Bob, Bob is older than Carol. Who is youngest?",
                "三个人说谎问题：甲说乙在说谎，乙说丙在说谎，丙说甲乙都在说谎，谁说真话？",
            ],
            "other": ["Solve this riddle: what has keys but can't open locks?", "这道逻辑题怎么推理？"],
        },
    },
    "writing": {
        "title": "Writing",
        "subtypes": {
            "creative": ["Write a short poem about autumn.", "写一个关于小猫的童话故事。"],
            "professional": ["Draft an email asking my manager for a day off.", "帮我写一份产品发布会的新闻稿。"],
            "rewriting": [
                "Make this paragraph sound more formal.",
                "帮我润色一下这段文字。",
                "Correct the grammar in this sentence.",
            ],
            "other": ["Give me a catchy slogan for a coffee shop.", "帮我起一个公众号名字。"],
        },
    },
    "qa": {
        "title": "Questions and knowledge",
        "subtypes": {
            "open_qa": [
                "What is the capital of Australia?",
                "Who wrote Pride and Prejudice?",
                "长城有多长？",
                "Do you know the movie Inception?",
                "你知道《霸王别姬》这部电影吗？",
            ],
            "advice": ["How can I sleep better?", "How do I get rid of a stain on my shirt?", "怎么缓解考试焦虑？"],
            "recommendation": ["Can you recommend some music for studying?", "推荐几首适合跑步时听的歌。"],
            "rag": ["Based on the documents below, answer the question.", "根据以下检索到的资料回答问题："],
            "reading_comprehension": [
                "Read the passage and answer: why did the author leave?",
                "阅读下面的短文，回答作者的观点是什么。",
            ],
            "long_context": [
                "Here is a 50-page contract; find every termination clause.",
                "下面是一整本小说的内容，请找出主角的所有对手。",
            ],
            "other": ["What do you think about remote work?", "你怎么看待人工智能的发展？"],
        },
    },
    "nlp": {
        "title": "Language tasks",
        "subtypes": {
            "summarisation": ["Summarise this article in three sentences.", "请总结这篇文章的要点。"],
            "extraction": [
                "Extract all person names and dates from this text.",
                "从这段文字中抽取所有的地名和机构名。",
            ],
            "intent": [
                "What does the user want in this message: 'I need to change my flight'?",
                "判断这句话的意图：帮我订明天去上海的机票。",
            ],
            "classification": ["Is this review positive or negative?", "判断这条评论的情感倾向。"],
            "other": ["Split this paragraph into sentences.", "给这段话加上标点符号。"],
        },
    },
    "chitchat": {
        "title": "Chit-chat",
        "subtypes": {
            "greeting": ["Hi, how are you?", "你好呀，今天过得怎么样？"],
            "emotional": ["I feel lonely today.", "我今天心情不好，想找人聊聊。"],
            "smalltalk": ["What's your favourite colour?", "你喜欢看电影吗？", "Tell me a joke."],
            "other": ["Are you a robot?", "你叫什么名字？"],
        },
    },
    "agent": {
        "title": "Agents and tools",
        "subtypes": {
            "function_calling": [
                "Call the weather API for Paris and tell me the forecast.",
                "调用 search_flights 函数查询明天北京到上海的航班。",
            ],
            "planning": [
                "Plan the steps to book a trip, using the tools you have.",
                "帮我规划完成这个任务需要调用哪些工具。",
            ],
            "other": ["Use the calculator tool to compute this.", "请使用搜索工具查找最新的新闻。"],
        },
    },
}


@dataclass(frozen=True)
class Taxonomy:
    types: dict[str, dict]

    @property
    def version(self) -> str:
        """A short fingerprint: labels record it, so a changed taxonomy is visible."""
        return hashlib.sha256(json.dumps(self.types, sort_keys=True).encode()).hexdigest()[:8]

    def type_names(self) -> list[str]:
        return list(self.types)

    def subtypes(self, task_type: str) -> list[str]:
        return list(self.types.get(task_type, {}).get("subtypes", {}))

    def title(self, task_type: str) -> str:
        return self.types.get(task_type, {}).get("title", task_type)

    def examples(self) -> list[tuple[str, str, str]]:
        """(type, subtype, example) for every example request."""
        return [
            (t, s, ex) for t, spec in self.types.items() for s, examples in spec["subtypes"].items() for ex in examples
        ]

    def check(self, task_type: str, subtype: str) -> None:
        if task_type not in self.types:
            raise ValueError(f"task_type {task_type!r} is not one of {', '.join(self.types)}")
        if subtype not in self.types[task_type]["subtypes"]:
            raise ValueError(
                f"task_subtype {subtype!r} is not a subtype of {task_type!r} "
                f"(use one of {', '.join(self.subtypes(task_type))})"
            )

    def describe(self) -> str:
        """The taxonomy as the prompt shows it: one line per type with its subtypes."""
        return "\n".join(f"- {t}: {', '.join(spec['subtypes'])}" for t, spec in self.types.items())


def _validate(types: dict, origin: str) -> dict:
    if not isinstance(types, dict) or not types:
        raise ImproperlyConfigured(f"{origin}: the taxonomy must be a non-empty object")
    for name, spec in types.items():
        subtypes = spec.get("subtypes") if isinstance(spec, dict) else None
        if not isinstance(subtypes, dict) or not subtypes:
            raise ImproperlyConfigured(f"{origin}: task type {name!r} needs a non-empty 'subtypes' object")
        for sub, examples in subtypes.items():
            if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
                raise ImproperlyConfigured(f"{origin}: {name}/{sub} must list example requests as strings")
        spec.setdefault("title", name)
    return types


@lru_cache(maxsize=4)
def _load(path: str) -> Taxonomy:
    if not path:
        return Taxonomy(types=DEFAULT_TAXONOMY)
    try:
        types = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ImproperlyConfigured(f"FLYWHEEL_LABEL_TAXONOMY={path!r} could not be read: {exc}") from exc
    return Taxonomy(types=_validate(types, path))


def taxonomy() -> Taxonomy:
    return _load(settings.FLYWHEEL_LABEL_TAXONOMY)
