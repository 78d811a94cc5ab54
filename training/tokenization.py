"""Token ids and labels of a conversation, through the model's own chat template.

Where does an assistant turn start and end? Real templates have no markers saying so, so we render
the conversation prefix by prefix: messages[:i] with the generation prompt ends where the reply
of message i starts (after its role header), and messages[:i+1] ends where the reply and its
end-of-turn token(s) end. A template that renders an earlier turn differently once more messages
follow (some strip reasoning from old turns) breaks this and is refused with a clear error.

The rendered text is tokenized once, and a token belongs to the turn when it ends inside the
turn's character span (offset mapping), which is robust to BPE merges across the boundary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.config import ConfigError
from training.conventions import IGNORE_INDEX, NO_TURN
from training.data import Conversation


class TemplateError(ValueError):
    """The chat template cannot be used to locate assistant turns."""


@dataclass
class TokenizedConversation:
    input_ids: np.ndarray
    """(T,) int64 token ids."""
    labels: np.ndarray
    """(T,) int64, unshifted: the token itself where it is supervised, IGNORE_INDEX elsewhere."""
    turn_ids: np.ndarray
    """(T,) int64 local turn number (0..num_turns-1) of supervised positions, NO_TURN elsewhere."""
    num_turns: int
    task_type: str
    weight: float
    line_number: int

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class TokenizationReport:
    conversations: int = 0
    turns: int = 0
    dropped_turns: int = 0
    """Turns cut by max_len: dropped whole, never half-supervised."""
    dropped_conversations: int = 0
    """Conversations left with no supervised turn after truncation."""
    truncated_conversations: int = 0
    tokens: int = 0
    supervised_tokens: int = 0
    dropped_lines: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        summary = dict(self.__dict__)
        summary["dropped_lines"] = self.dropped_lines[:100]
        return summary


def render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_turn_spans(tokenizer, conversation: Conversation) -> tuple[str, list[tuple[int, int]]]:
    """The text to train on (up to the last supervised turn) and the (start, end) character span
    of each supervised turn: its content and end-of-turn text, not its role header."""
    last = conversation.supervised[-1]
    text = render(tokenizer, conversation.messages[: last + 1], add_generation_prompt=False)
    spans = []
    for index in conversation.supervised:
        before = render(tokenizer, conversation.messages[:index], add_generation_prompt=True)
        before_without_prompt = render(tokenizer, conversation.messages[:index], add_generation_prompt=False)
        through = render(tokenizer, conversation.messages[: index + 1], add_generation_prompt=False)
        if before == before_without_prompt:
            raise TemplateError(
                "the chat template ignores add_generation_prompt, so the assistant role header "
                "cannot be told apart from the reply"
            )
        if not through.startswith(before):
            raise TemplateError(
                f"line {conversation.line_number}: the chat template renders an assistant message "
                f"differently from its generation prompt (message {index}), so the reply cannot be located"
            )
        if not text.startswith(through):
            raise TemplateError(
                f"line {conversation.line_number}: the chat template rewrites earlier turns when later "
                f"messages follow (message {index} is not a prefix of the whole conversation); "
                "such templates cannot be trained turn by turn"
            )
        spans.append((len(before), len(through)))
    return text, spans


def tokenize_conversation(
    tokenizer, conversation: Conversation, max_len: int, report: TokenizationReport
) -> TokenizedConversation | None:
    """Ids, labels and turn ids of one conversation; None (and counted) when truncation leaves
    no supervised turn."""
    text, spans = assistant_turn_spans(tokenizer, conversation)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = np.asarray(encoding["input_ids"], dtype=np.int64)
    token_ends = np.asarray([end for _, end in encoding["offset_mapping"]], dtype=np.int64)
    special_ids = set(tokenizer.all_special_ids)

    labels = np.full_like(input_ids, IGNORE_INDEX)
    turn_ids = np.full_like(input_ids, NO_TURN)
    report.conversations += 1
    truncated = len(input_ids) > max_len
    report.truncated_conversations += int(truncated)
    kept_turns = 0
    last_kept_end = 0
    for start, end in spans:
        positions = np.nonzero((token_ends > start) & (token_ends <= end))[0]
        positions = without_trailing_separator(positions, input_ids, tokenizer, special_ids)
        # Position 0 has no prefix to be predicted from; a template putting a reply there is broken.
        positions = positions[positions > 0]
        if len(positions) == 0:
            raise TemplateError(f"line {conversation.line_number}: an assistant turn has no token")
        if positions[-1] >= max_len:
            report.dropped_turns += 1
            continue
        labels[positions] = input_ids[positions]
        turn_ids[positions] = kept_turns
        kept_turns += 1
        last_kept_end = int(positions[-1]) + 1
    report.turns += kept_turns
    if kept_turns == 0:
        report.dropped_conversations += 1
        report.dropped_lines.append(conversation.line_number)
        return None
    # Nothing after the last kept turn carries loss, so it is not worth a forward pass.
    keep = slice(0, last_kept_end)
    report.tokens += last_kept_end
    report.supervised_tokens += int((labels[keep] != IGNORE_INDEX).sum())
    return TokenizedConversation(
        input_ids=input_ids[keep],
        labels=labels[keep],
        turn_ids=turn_ids[keep],
        num_turns=kept_turns,
        task_type=conversation.task_type,
        weight=conversation.weight,
        line_number=conversation.line_number,
    )


def without_trailing_separator(positions: np.ndarray, input_ids: np.ndarray, tokenizer, special_ids: set) -> np.ndarray:
    """Drop whitespace the template writes after the end-of-turn token (ChatML's newline after
    <|im_end|>): generation stops at the end-of-turn token, so the model never produces it."""
    end = len(positions)
    while end > 1 and tokenizer.decode([int(input_ids[positions[end - 1]])]).strip() == "":
        end -= 1
    # A reply that merely ends in whitespace, with no end-of-turn token before it, keeps it.
    if end < len(positions) and int(input_ids[positions[end - 1]]) in special_ids:
        return positions[:end]
    return positions


def tokenize_conversations(
    tokenizer, conversations: list[Conversation], max_len: int
) -> tuple[list[TokenizedConversation], TokenizationReport]:
    report = TokenizationReport()
    tokenized = []
    for conversation in conversations:
        result = tokenize_conversation(tokenizer, conversation, max_len, report)
        if result is not None:
            tokenized.append(result)
    return tokenized, report


def dataset_fingerprint(conversations: list[TokenizedConversation]) -> str:
    """A digest of exactly what is trained on, so resume can refuse different data."""
    digest = hashlib.sha256()
    for conversation in conversations:
        digest.update(conversation.input_ids.tobytes())
        digest.update(conversation.labels.tobytes())
        digest.update(f"{conversation.task_type}|{conversation.weight}".encode())
    return digest.hexdigest()


def check_model_dir(model_dir: str) -> None:
    path = Path(model_dir)
    if not path.is_dir():
        raise ConfigError(f"model directory {model_dir} does not exist")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{model_dir} is not a Hugging Face model directory (no config.json)")


def load_tokenizer(model_dir: str):
    # Deferred: transformers imports torch when it is installed, and a web process loads a
    # tokenizer only when a page needs one.
    from transformers import AutoTokenizer

    check_model_dir(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"the tokenizer in {model_dir} has no chat template")
    if not tokenizer.is_fast:
        raise ConfigError(f"the tokenizer in {model_dir} is not a fast tokenizer (offsets are needed)")
    return tokenizer
