"""`python -m training reward`: a reward model's score of each conversation (MoDS's quality stage).

The reward model is any local sequence-classification model directory with one output (a
Hugging Face reward model). A conversation is rendered by the model's chat template (or, without
one, as "role: content" lines) and scored as a whole: the score of its last assistant reply given
what came before. A conversation longer than `max_len` tokens is cut from the LEFT, so the reply
being judged stays and the oldest context goes; it is scored, and counted and marked
(`truncated`), never dropped. Rows are right-padded behind an attention mask, so scores do not
depend on the batch size (tested).

Output: one JSON line per conversation, in input order, `{"line", "id"?, "reward", "tokens",
"truncated"}`, written atomically; the last stdout line is a report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from training.config import ConfigError
from training.data import DataError
from training.files import atomic_writer
from training.ifd import read_ifd_conversations
from training.tokenization import check_model_dir


def render_for_reward(tokenizer, messages: list[dict]) -> str:
    clean = [{"role": m["role"], "content": m["content"]} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(clean, tokenize=False, add_generation_prompt=False)
    return "\n".join(f"{m['role']}: {m['content']}" for m in clean)


def score_rewards(
    model_dir: str, conversations, *, batch_size: int = 8, max_len: int = 2048
) -> tuple[list[dict], dict]:
    # Deferred: torch and transformers load only when a model runs; reading and checking the input needs neither.
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.modeling import pad_token_id_of, quiet_transformers

    if batch_size < 1 or max_len < 2:
        raise ConfigError("batch_size must be at least 1 and max_len at least 2")
    check_model_dir(model_dir)
    if not any((Path(model_dir) / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise ConfigError(f"{model_dir} has no tokenizer")
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    if model.config.num_labels != 1:
        raise ConfigError(f"{model_dir} is not a reward model (num_labels={model.config.num_labels}, expected 1)")
    pad_id = pad_token_id_of(tokenizer)
    model.config.pad_token_id = pad_id
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    started = time.perf_counter()
    encoded = []
    for conversation in conversations:
        ids = tokenizer(render_for_reward(tokenizer, conversation.messages), add_special_tokens=False)["input_ids"]
        truncated = len(ids) > max_len
        encoded.append((ids[-max_len:], truncated))  # cut from the left: the judged reply stays
    rows: list[dict | None] = [None] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda index: len(encoded[index][0]))
    for begin in range(0, len(order), batch_size):
        indices = order[begin : begin + batch_size]
        width = max(len(encoded[index][0]) for index in indices)
        input_ids = torch.full((len(indices), width), pad_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(indices), width), dtype=torch.long)  # (B, T)
        for row, index in enumerate(indices):
            ids = encoded[index][0]
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
        with torch.no_grad():
            scores = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits[
                :, 0
            ]  # (B,)
        for row, index in enumerate(indices):
            rows[index] = {
                "reward": float(scores[row]),
                "tokens": len(encoded[index][0]),
                "truncated": encoded[index][1],
            }
    seconds = time.perf_counter() - started
    truncated = sum(1 for row in rows if row["truncated"])
    return rows, {"conversations": len(rows), "truncated": truncated, "seconds": round(seconds, 3), "max_len": max_len}


def run_reward(*, model: str, data: str, output: str, batch_size: int = 8, max_len: int = 2048) -> dict:
    conversations, ids = read_ifd_conversations(data)
    rows, report = score_rewards(model, conversations, batch_size=batch_size, max_len=max_len)
    with atomic_writer(output) as out:
        for conversation, identifier, row in zip(conversations, ids, rows):
            line = {"line": conversation.line_number, **row}
            if identifier is not None:
                line["id"] = identifier
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return report


__all__ = ["DataError", "run_reward", "score_rewards"]
