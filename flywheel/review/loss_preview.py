"""Which tokens will carry loss: the annotator's preview of a conversation as the trainer sees it.

It runs the trainer's own code (`training.contract`: the same parsing and tokenization
`python -m training sft` uses with supervise="flagged"), so the highlighted tokens are exactly
the supervised ones: each ticked assistant answer and its end-of-turn token, never role headers.
The tokenizer is FLYWHEEL_REVIEW_TOKENIZER, or a tiny offline one made on first use.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings

from training.contract import (
    IGNORE_INDEX,
    DataError,
    TemplateError,
    TokenizationReport,
    assistant_turn_spans,
    conversation_from_record,
    load_tokenizer,
    tiny_model_ensure,
    tokenize_conversation,
)

PREVIEW_MAX_TOKENS = 8192


@lru_cache(maxsize=1)
def review_tokenizer():
    directory = settings.FLYWHEEL_REVIEW_TOKENIZER
    if not directory:  # the default: a tiny offline model, made on first use
        directory = Path(settings.VAR_DIR) / "review-tokenizer"
        tiny_model_ensure(directory)
    return load_tokenizer(str(directory))


def loss_preview(*, messages: list[dict]) -> dict:
    """{"tokens": [{"text", "loss"}], "supervised", "total", "turns", "error"} for a conversation
    of {"role", "content", "train"} messages. The tokens echo `content`, so pass the text the
    trainer will get, never the stored original: the review page builds it like the dataset
    builder does, PII scrubbed, with the builder's own rules (`flywheel.datasets.supervision`)."""
    empty = {"tokens": [], "supervised": 0, "total": 0, "turns": 0}
    try:
        conversation = conversation_from_record({"messages": messages}, "flagged", "this conversation")
    except DataError as exc:
        return {**empty, "error": str(exc).replace("this conversation: ", "")}
    tokenizer = review_tokenizer()
    report = TokenizationReport()
    try:
        text, _ = assistant_turn_spans(tokenizer, conversation)
        tokenized = tokenize_conversation(tokenizer, conversation, PREVIEW_MAX_TOKENS, report)
    except TemplateError as exc:
        return {**empty, "error": str(exc)}
    if tokenized is None:
        return {**empty, "error": f"every trained turn ends past {PREVIEW_MAX_TOKENS} tokens, so none would be kept"}
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    tokens, shown_until = [], 0
    for position, (start, end) in enumerate(offsets[: len(tokenized.labels)]):
        # Byte-level BPE splits one CJK character over several tokens with the same span:
        # show the character once, on its first token.
        piece = text[max(start, shown_until) : end]
        shown_until = max(shown_until, end)
        tokens.append({"text": piece, "loss": bool(tokenized.labels[position] != IGNORE_INDEX)})
    return {
        "tokens": tokens,
        "supervised": report.supervised_tokens,
        "total": len(tokens),
        "turns": report.turns,
        "error": "",
    }
