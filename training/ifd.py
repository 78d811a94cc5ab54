"""`python -m training ifd`: Instruction-Following Difficulty per assistant turn, with its history.

Cherry's IFD, extended to multi-turn. For every assistant turn of a conversation:

- loss_cond: mean token loss of the turn's supervised tokens (exactly the trainer's span: the
  reply and its end-of-turn token, found by training/tokenization.py) given the conversation
  before it, rendered by the model's own chat template;
- loss_direct: mean loss of the same tokens when the reply stands alone, the conversation
  `[{"role": "assistant", "content": reply}]` through the same template;
- both over the same first L tokens of the turn, L = min(turn length, max_len - context length),
  where the context is what precedes the turn in the conditioned pass;
- ifd = loss_cond / loss_direct, and None (never 0) when L is 0.

The direct pass is the template's own prefix for a lone assistant message followed by the very
token ids of the conditioned pass, so both passes score identical targets even where BPE would
split the reply differently after another header.

One conditioned forward pass serves every turn of a conversation (attention is causal, so what
follows a turn does not change its loss). Sequences are right-padded with an attention mask and
scored in batches sorted by length; logits are computed only at the target positions, so a
150k-token vocabulary does not need a (B, T, V) tensor. Scores do not depend on the batch size or
the padding (tests/training/test_ifd.py).

Output: one JSON line per conversation, in input order:
`{"line": N, "id": <the input's "id", if any>, "turns": [{"turn": i, "message": m, "loss_cond",
"loss_direct", "tokens": L, "ifd"}]}`, written atomically.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.config import ConfigError
from training.conventions import IGNORE_INDEX
from training.data import Conversation, DataError, conversation_from_record
from training.files import atomic_writer
from training.tokenization import TemplateError, TokenizationReport, load_tokenizer, render, tokenize_conversation

NO_LIMIT = 1 << 30


@dataclass
class Sequence:
    """One forward pass: token ids and the groups of target positions whose mean loss is wanted."""

    input_ids: np.ndarray  # (T,)
    groups: list[tuple[tuple, np.ndarray]] = field(default_factory=list)
    """[(key, target positions)]: a position p is predicted from the logits at p - 1."""


def read_ifd_conversations(path: str | Path) -> tuple[list[Conversation], list[object]]:
    """Every conversation of a JSONL file (every assistant turn scored) and each line's "id"."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    conversations, ids = [], []
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
            conversations.append(conversation_from_record(record, "all", where, line_number))
            ids.append(record.get("id"))
    if not conversations:
        raise DataError(f"data file {path} holds no conversation")
    return conversations, ids


def turn_positions(tokenizer, conversation: Conversation) -> tuple[np.ndarray, list[np.ndarray]]:
    """The token ids of the whole conversation and, per assistant turn, its supervised positions,
    through the trainer's own tokenization (no truncation here; L is applied by the caller)."""
    tokenized = tokenize_conversation(tokenizer, conversation, NO_LIMIT, TokenizationReport())
    positions = [
        np.flatnonzero((tokenized.turn_ids == turn) & (tokenized.labels != IGNORE_INDEX))
        for turn in range(tokenized.num_turns)
    ]
    return tokenized.input_ids, positions


def direct_prefix(tokenizer, reply: str) -> np.ndarray:
    """Token ids the template writes before a lone assistant reply (its header, and a default
    system prompt if the template adds one): the text two lone replies that differ from their
    first character share."""
    first = render(tokenizer, [{"role": "assistant", "content": "A" + reply}], add_generation_prompt=False)
    second = render(tokenizer, [{"role": "assistant", "content": "B" + reply}], add_generation_prompt=False)
    length = 0
    while length < min(len(first), len(second)) and first[length] == second[length]:
        length += 1
    if first[length : length + 1] != "A":
        raise TemplateError("the chat template rewrites a lone assistant reply, so its header cannot be located")
    return np.asarray(tokenizer(first[:length], add_special_tokens=False)["input_ids"], dtype=np.int64)


def plan_sequences(
    tokenizer, conversations: list[Conversation], max_len: int
) -> tuple[list[Sequence], list[list[dict]]]:
    """The forward passes to run and, per conversation, one result row per assistant turn with
    its token count L (losses filled in later)."""
    sequences: list[Sequence] = []
    results: list[list[dict]] = []
    for number, conversation in enumerate(conversations):
        input_ids, positions = turn_positions(tokenizer, conversation)
        conditioned = Sequence(input_ids=np.zeros(0, dtype=np.int64))
        rows, end = [], 0
        for turn, (message, turn_positions_) in enumerate(zip(conversation.supervised, positions)):
            context = int(turn_positions_[0])
            reply = conversation.messages[message]["content"]
            prefix = direct_prefix(tokenizer, reply)
            length = max(0, min(len(turn_positions_), max_len - context, max_len - len(prefix)))
            rows.append(
                {
                    "turn": turn,
                    "message": message,
                    "loss_cond": None,
                    "loss_direct": None,
                    "tokens": length,
                    "ifd": None,
                }
            )
            if length == 0:
                continue
            targets = turn_positions_[:length]
            conditioned.groups.append(((number, turn, "cond"), targets))
            end = max(end, int(targets[-1]) + 1)
            direct_ids = np.concatenate([prefix, input_ids[targets]]).astype(np.int64)
            sequences.append(
                Sequence(
                    input_ids=direct_ids, groups=[((number, turn, "direct"), np.arange(len(prefix), len(direct_ids)))]
                )
            )
        if conditioned.groups:
            conditioned.input_ids = input_ids[:end]
            sequences.append(conditioned)
        results.append(rows)
    return sequences, results


def mean_losses(model, sequences: list[Sequence], batch_size: int, pad_token_id: int, device) -> dict[tuple, float]:
    """Mean token loss of every group, batched by length; right padding behind an attention mask."""
    # Deferred: torch loads only for the forward passes; reading and tokenizing (tests, bench) needs none.
    import torch
    import torch.nn.functional as F

    losses: dict[tuple, float] = {}
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index].input_ids))
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    for begin in range(0, len(order), batch_size):
        batch = [sequences[index] for index in order[begin : begin + batch_size]]
        width = max(len(sequence.input_ids) for sequence in batch)
        input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T)
        rows, columns, targets, owners = [], [], [], []
        for row, sequence in enumerate(batch):
            input_ids[row, : len(sequence.input_ids)] = torch.from_numpy(sequence.input_ids)
            attention_mask[row, : len(sequence.input_ids)] = 1
            for key, positions in sequence.groups:
                # The label shift, in this one place: the token at p is predicted from position p - 1.
                rows.extend([row] * len(positions))
                columns.extend((positions - 1).tolist())
                targets.extend(sequence.input_ids[positions].tolist())
                owners.extend([key] * len(positions))
        with torch.no_grad():
            hidden = decoder(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)
            ).last_hidden_state  # (B, T, H)
            picked = hidden[torch.tensor(rows, device=device), torch.tensor(columns, device=device)]  # (M, H)
            logits = head(picked).float()  # (M, V)
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            token_losses = (
                F.cross_entropy(logits, torch.tensor(targets, device=device), reduction="none").cpu().numpy()
            )  # (M,)
        sums: dict[tuple, list[float]] = {}
        for key, loss in zip(owners, token_losses.tolist()):
            sums.setdefault(key, []).append(loss)
        for key, values in sums.items():
            losses[key] = math.fsum(values) / len(values)
    return losses


def score_conversations(
    model_dir: str, conversations: list[Conversation], *, batch_size: int = 8, max_len: int = 2048
) -> tuple[list[list[dict]], dict]:
    """IFD rows per conversation (in input order) and a report."""
    # Deferred: torch loads only for the forward passes; reading and tokenizing (tests, bench) needs none.
    import torch

    from training.modeling import pad_token_id_of, quiet_transformers

    if batch_size < 1 or max_len < 2:
        raise ConfigError("batch_size must be at least 1 and max_len at least 2")
    quiet_transformers()
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(model_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    started = time.perf_counter()
    sequences, results = plan_sequences(tokenizer, conversations, max_len)
    losses = mean_losses(model, sequences, batch_size, pad_token_id_of(tokenizer), device)
    scored = unscored = 0
    for number, rows in enumerate(results):
        for row in rows:
            cond = losses.get((number, row["turn"], "cond"))
            direct = losses.get((number, row["turn"], "direct"))
            row["loss_cond"], row["loss_direct"] = cond, direct
            if cond is not None and direct is not None and direct > 0:
                row["ifd"] = cond / direct
                scored += 1
            else:
                unscored += 1
    seconds = time.perf_counter() - started
    report = {
        "conversations": len(conversations),
        "turns": scored + unscored,
        "scored_turns": scored,
        "unscored_turns": unscored,
        "forward_sequences": len(sequences),
        "seconds": round(seconds, 3),
        "conversations_per_s": round(len(conversations) / seconds, 3) if seconds > 0 else None,
        "batch_size": batch_size,
        "max_len": max_len,
        "device": device.type,
    }
    return results, report


def run_ifd(*, model: str, data: str, output: str, batch_size: int = 8, max_len: int = 2048) -> dict:
    conversations, ids = read_ifd_conversations(data)
    results, report = score_conversations(model, conversations, batch_size=batch_size, max_len=max_len)
    with atomic_writer(output) as out:
        for conversation, identifier, rows in zip(conversations, ids, results):
            line = {"line": conversation.line_number, "turns": rows}
            if identifier is not None:
                line["id"] = identifier
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return report


def score_one_at_a_time(model, tokenizer, conversation: Conversation, max_len: int = 2048) -> list[dict]:
    """The unbatched reference, Cherry's way: per turn, one forward pass over the conversation up
    to the turn and one over the lone reply, each with full logits and its own label tensor.
    Used by the tests (the batched path must agree) and by bench/curation.py as the baseline."""
    # Deferred: torch loads only for the forward passes; reading and tokenizing (tests, bench) needs none.
    import torch
    import torch.nn.functional as F

    input_ids, positions = turn_positions(tokenizer, conversation)
    rows = []
    for turn, (message, turn_positions_) in enumerate(zip(conversation.supervised, positions)):
        reply = conversation.messages[message]["content"]
        prefix = direct_prefix(tokenizer, reply)
        context = int(turn_positions_[0])
        length = max(0, min(len(turn_positions_), max_len - context, max_len - len(prefix)))
        row = {"turn": turn, "message": message, "loss_cond": None, "loss_direct": None, "tokens": length, "ifd": None}
        if length:
            targets = turn_positions_[:length]
            passes = {
                "loss_cond": (input_ids[: int(targets[-1]) + 1], targets),
                "loss_direct": (
                    np.concatenate([prefix, input_ids[targets]]),
                    np.arange(len(prefix), len(prefix) + length),
                ),
            }
            for name, (ids, target_positions) in passes.items():
                ids_tensor = torch.from_numpy(np.asarray(ids, dtype=np.int64))[None]  # (1, T)
                labels = torch.full_like(ids_tensor, -100)
                labels[0, torch.from_numpy(target_positions)] = ids_tensor[0, torch.from_numpy(target_positions)]
                with torch.no_grad():
                    logits = model(input_ids=ids_tensor).logits.float()  # (1, T, V)
                # Shifted here as in training/loss.py: logits at p - 1 predict the token at p.
                row[name] = float(F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100))
            row["ifd"] = row["loss_cond"] / row["loss_direct"]
        rows.append(row)
    return rows
