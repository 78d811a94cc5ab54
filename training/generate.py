"""`python -m training generate`: answers of a model to evaluation items, without Django.

Input: JSONL in the trainer's format, `{"messages": [...], "task_type"?}`. A final assistant
message is the item's reference answer and is not shown to the model: the prompt is the
conversation up to the last user (or tool) turn, rendered by the model's own chat template with
the generation prompt. Output: one JSON line per item, in input order,
`{"line": N, "task_type": ..., "answer": ..., "new_tokens": N, "finished": bool}`, written
atomically (readers see the whole file or none of it).

Prompts are batched and LEFT-padded, so every row's next token sits in the last column and one
`generate` call serves the batch; the attention mask keeps padding out, and transformers derives
the position ids from it, so a batched greedy answer equals the one-at-a-time answer. Batches are
formed from prompts sorted by length, so little padding is wasted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from training.config import ConfigError
from training.data import Conversation, DataError, checked_message
from training.files import atomic_writer
from training.tokenization import TokenizationReport, load_tokenizer, tokenize_conversation

DEFAULT_TASK_TYPE = "default"


@dataclass
class GenerationItem:
    line_number: int
    messages: list[dict]
    """The prompt: the conversation without its final assistant message."""
    reference: str | None
    task_type: str


def read_items(path: str | Path) -> list[GenerationItem]:
    """Every item of a JSONL file, checked; the first bad line raises DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    items = []
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
            items.append(item_from_record(record, where, line_number))
    if not items:
        raise DataError(f"data file {path} holds no item")
    return items


def item_from_record(record: object, where: str, line_number: int = 0) -> GenerationItem:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise DataError(f'{where}: expected an object with a "messages" list')
    messages = [
        checked_message(message, f"{where}: message {index}") for index, message in enumerate(record["messages"])
    ]
    for message in messages:
        message.pop("train", None)
    reference = None
    if messages and messages[-1]["role"] == "assistant":
        reference = messages.pop()["content"]
    if not any(message["role"] == "user" for message in messages):
        raise DataError(f"{where}: the item has no user turn to answer")
    task_type = record.get("task_type") or DEFAULT_TASK_TYPE
    if not isinstance(task_type, str):
        raise DataError(f"{where}: task_type must be a string, not {task_type!r}")
    return GenerationItem(line_number, messages, reference, task_type)


def generate_answers(
    model_dir: str,
    items: list[GenerationItem],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    temperature: float = 0.0,
    seed: int = 0,
) -> tuple[list[dict], dict]:
    """The answers (in item order) and a report: items, new tokens, seconds, tokens per second."""
    # Deferred: torch and transformers load only when a model runs; reading and checking the input needs neither.
    import torch

    from training.modeling import quiet_transformers

    if max_new_tokens < 1 or batch_size < 1 or temperature < 0:
        raise ConfigError("max_new_tokens and batch_size must be at least 1, temperature at least 0")
    quiet_transformers()
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    torch.manual_seed(seed)

    prompts = [
        tokenizer.apply_chat_template(item.messages, tokenize=False, add_generation_prompt=True) for item in items
    ]
    # A template that already emits the BOS token must not get a second one from the tokenizer.
    encoded_lengths = [len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts]
    order = sorted(range(len(items)), key=lambda index: encoded_lengths[index])
    answers: list[dict | None] = [None] * len(items)
    eos_ids = {tid for tid in (tokenizer.eos_token_id, tokenizer.pad_token_id) if tid is not None}
    new_tokens_total, started = 0, time.perf_counter()
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        batch = tokenizer(
            [prompts[index] for index in indices], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(device)
        options = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        }
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature, top_p=1.0, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.no_grad():
            output = model.generate(**batch, **options)  # (B, T_prompt + T_new)
        generated = output[:, batch["input_ids"].shape[1] :]  # (B, T_new)
        for row, index in enumerate(indices):
            tokens = generated[row].tolist()
            finished = False
            for position, token in enumerate(tokens):
                if token in eos_ids:
                    tokens, finished = tokens[:position], True
                    break
            new_tokens_total += len(tokens)
            item = items[index]
            answers[index] = {
                "line": item.line_number,
                "task_type": item.task_type,
                "answer": tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                "new_tokens": len(tokens),
                "finished": finished,
            }
    seconds = time.perf_counter() - started
    report = {
        "items": len(items),
        "new_tokens": new_tokens_total,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(new_tokens_total / seconds, 2) if seconds > 0 else None,
        "batch_size": batch_size,
        "device": device.type,
    }
    return answers, report


def reference_losses(model_dir: str, items: list[GenerationItem], *, max_len: int = 4096) -> list[float | None]:
    """Per-turn loss of each item's reference answer under the model: the mean negative
    log-likelihood of its tokens (and end-of-turn) given the context, the turn the trainer's loss
    would supervise. None for an item without a reference (or cut off by max_len)."""
    # Deferred: torch and transformers load only when a model runs; reading and checking the input needs neither.
    import torch

    from training.loss import supervised_token_losses
    from training.modeling import quiet_transformers

    quiet_transformers()
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(model_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    losses: list[float | None] = []
    for item in items:
        if item.reference is None:
            losses.append(None)
            continue
        messages = [*item.messages, {"role": "assistant", "content": item.reference}]
        conversation = Conversation(messages, [len(messages) - 1], item.task_type, 1.0, item.line_number)
        tokenized = tokenize_conversation(tokenizer, conversation, max_len, TokenizationReport())
        if tokenized is None:
            losses.append(None)
            continue
        input_ids = torch.as_tensor(tokenized.input_ids, device=device).unsqueeze(0)  # (1, T)
        with torch.no_grad():
            logits = model(input_ids=input_ids, use_cache=False).logits  # (1, T, V)
        token_losses = supervised_token_losses(
            logits,
            torch.as_tensor(tokenized.labels, device=device).unsqueeze(0),
            torch.as_tensor(tokenized.turn_ids, device=device).unsqueeze(0),
        )[0]  # (N,)
        losses.append(round(float(token_losses.mean()), 6))
    return losses


def write_answers(path: str | Path, answers: list[dict]) -> None:
    with atomic_writer(path) as out:
        for answer in answers:
            out.write(json.dumps(answer, ensure_ascii=False) + "\n")


def run_generate(
    *,
    model: str,
    data: str,
    output: str,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    temperature: float = 0.0,
    seed: int = 0,
    reference_loss: bool = False,
) -> dict:
    items = read_items(data)
    answers, report = generate_answers(
        model, items, max_new_tokens=max_new_tokens, batch_size=batch_size, temperature=temperature, seed=seed
    )
    if reference_loss:
        for answer, loss in zip(answers, reference_losses(model, items)):
            answer["reference_loss"] = loss
    write_answers(output, answers)
    return report
