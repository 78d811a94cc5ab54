"""Token counts for the manifest's length statistics.

With a tokenizer (the build's `tokenizer` setting or FLYWHEEL_DATASET_TOKENIZER: a Hugging
Face model or tokenizer directory), a conversation is rendered with the tokenizer's chat
template and its tokens counted. Without one, the approximation APPROXIMATION is used: each
CJK character counts one token, other text one token per 4 characters (rounded up per
message), plus 4 tokens per message for the template's role header and end-of-turn marker.
It is within a factor of about 1.5 of real BPE tokenizers on English and Chinese chat text,
which is enough to see lengths and to choose max_len, not to bill by.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from training.contract import load_tokenizer

APPROXIMATION = "approx-v1"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_TEMPLATE_TOKENS_PER_MESSAGE = 4


def approximate_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


@lru_cache(maxsize=4)
def _load_tokenizer(path: str):
    return load_tokenizer(path)


class TokenCounter:
    """Counts tokens of sample records; `method` names how (stored in the manifest)."""

    def __init__(self, tokenizer_path: str = ""):
        self.tokenizer = _load_tokenizer(tokenizer_path) if tokenizer_path else None
        self.method = f"tokenizer:{tokenizer_path}" if tokenizer_path else APPROXIMATION

    def messages(self, messages: list[dict]) -> int:
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        if self.tokenizer is None:
            return sum(approximate_tokens(m["content"]) + _TEMPLATE_TOKENS_PER_MESSAGE for m in plain)
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(plain, tokenize=False)
        else:
            text = "\n".join(f"{m['role']}: {m['content']}" for m in plain)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def record(self, kind: str, record: dict) -> int:
        if kind == "pair":
            # What a preference trainer reads: the prompt once, both answers.
            prompt = self.messages(record["prompt"]) if record["prompt"] else 0
            answers = [{"role": "assistant", "content": record[key]} for key in ("chosen", "rejected")]
            return prompt + sum(self.messages([answer]) for answer in answers)
        return self.messages(record["messages"])


def length_stats(values: list[int]) -> dict:
    """count, total, min, mean, nearest-rank percentiles and max of token lengths."""
    if not values:
        return {"count": 0, "total": 0}
    ordered = sorted(values)

    def rank(p: float) -> int:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "total": sum(ordered),
        "min": ordered[0],
        "mean": round(sum(ordered) / len(ordered), 1),
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1],
    }
