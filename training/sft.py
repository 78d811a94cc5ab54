"""Supervised fine-tuning: the one training loop, and the helpers it reads with.

Per optimizer step:
  1. take the step's global batch (micro_batch_size * grad_accum * ranks conversations) from the
     seeded epoch order, split it into [accumulation step][rank] micro-batches, collate this rank's;
  2. count the global denominator (turns, or tokens, or micro-batches) from the data and
     all-reduce it, together with the stop flag, before any forward pass;
  3. forward and backward every micro-batch with loss = numerator / denominator, multiplied back by
     whatever the framework divides by (DDP: ranks; DeepSpeed: ranks * accumulation steps);
  4. clip, step, schedule; all-reduce the detached sums for the log line.
"""

from __future__ import annotations

import math
import random
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from training.checkpoint import load_training_state, save_checkpoint, save_final_model
from training.collate import MicroBatch, collate, plan_micro_batches
from training.config import ConfigError, TrainConfig, config_as_dict
from training.data import read_conversations
from training.distributed import DistributedContext, all_reduce_sum, barrier, setup_distributed, teardown_distributed
from training.loss import micro_batch_denominator_share, micro_batch_loss
from training.metrics import MetricsWriter, json_number, write_json_atomically
from training.modeling import (
    forward_for_loss,
    load_model,
    load_tokenizer,
    pad_token_id_of,
    quiet_transformers,
    resolve_attention,
)
from training.optim import build_optimizer, build_scheduler, deepspeed_config
from training.reporting import CHANNELS_START, LOSS, channel_losses, empty_sums, micro_batch_sums, train_record
from training.resume import RunDirectoryInUse, agreed_resume_checkpoint, checked_resume_state
from training.tokenization import TokenizationReport, TokenizedConversation, dataset_fingerprint, tokenize_conversations


@dataclass
class PreparedData:
    train: list[TokenizedConversation]
    train_report: TokenizationReport
    eval: list[TokenizedConversation]
    eval_report: TokenizationReport | None
    channels: list[str]
    """Sorted task_types of train and eval data: the same channel index on every rank."""
    fingerprint: str

    @property
    def channel_index(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.channels)}


class StopRequest:
    """SIGTERM (the web side's cancel) or SIGINT asks for a clean stop at the next step boundary."""

    def __init__(self):
        self.requested = False

    def __call__(self, signum, frame):
        self.requested = True

    @contextmanager
    def installed(self):
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_sft(config: TrainConfig) -> dict:
    """Train as configured and return what was written to result.json."""
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    context = setup_distributed(needs_process_group=config.deepspeed is not None)
    started = time.time()
    try:
        with StopRequest().installed() as stop:
            return train(config, context, output, stop, started)
    except BaseException as error:
        if context.is_main and not isinstance(error, RunDirectoryInUse):
            failure = {"status": "failed", "error": f"{type(error).__name__}: {error}", "started_at": started,
                       "finished_at": time.time(), "config": config_as_dict(config)}
            write_json_atomically(output / "result.json", failure)
        raise
    finally:
        teardown_distributed()


def train(config: TrainConfig, context: DistributedContext, output: Path, stop: StopRequest, started: float) -> dict:
    checkpoint = agreed_resume_checkpoint(config, output, context)
    seed_everything(config.seed)
    quiet_transformers()
    tokenizer = load_tokenizer(config.model)
    pad_token_id = pad_token_id_of(tokenizer)
    data = prepare_data(config, tokenizer)
    bf16 = resolve_bf16(config, context.device)
    attention = resolve_attention(config.attn_implementation, context.device, bf16)
    # Resuming loads the checkpoint's weights through the same from_pretrained path.
    model = load_model(str(checkpoint or config.model), attention, config.gradient_checkpointing).to(context.device)

    num_conversations = len(data.train)
    global_batch_size = config.micro_batch_size * config.grad_accum * context.world_size
    total_steps = config.max_steps or config.epochs * math.ceil(num_conversations / global_batch_size)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps)
    engine, trained = wrap_for_data_parallel(model, optimizer, config, context, bf16)
    # DeepSpeed divides by the accumulation steps and averages over ranks; DDP averages over ranks.
    backward_scale = context.world_size * (config.grad_accum if engine is not None else 1)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and engine is None else nullcontext()

    state = {"step": 0, "samples_consumed": 0, "first_loss": None, "dataset_fingerprint": data.fingerprint,
             "global_batch_size": global_batch_size, "total_steps": total_steps,
             "deepspeed": engine is not None, "world_size": context.world_size}
    if checkpoint is not None:
        state = checked_resume_state(checkpoint, state)
        load_training_state(checkpoint=checkpoint, optimizer=optimizer, scheduler=scheduler, engine=engine, context=context)
    if context.is_main:
        (output / "result.json").unlink(missing_ok=True)
    resuming = config.resume != "no" and (output / "metrics.jsonl").exists()
    metrics = MetricsWriter(output / "metrics.jsonl", enabled=context.is_main)
    if resuming:
        metrics.write({"kind": "resumed", "step": state["step"], "checkpoint": str(checkpoint) if checkpoint else None})

    def evaluate_now() -> float | None:
        return evaluate(model, data, config, context, pad_token_id, attention, autocast, metrics, state["step"])

    lengths = [len(conversation) for conversation in data.train]
    status, last_loss, eval_loss = "completed", None, None
    while state["step"] < total_steps:
        step_started = time.perf_counter()
        conversation_ids = conversations_for_step(
            num_conversations, global_batch_size, state["samples_consumed"], config.seed
        )
        plan = plan_micro_batches(conversation_ids, lengths, config.micro_batch_size, config.grad_accum, context.world_size)
        micro_batches = [collate_for(data, ids[context.rank], config, pad_token_id).to(context.device) for ids in plan]
        local_denominator = sum(micro_batch_denominator_share(mb.labels, mb.turn_ids, mb.turn_weights, config.loss)
                                for mb in micro_batches if not mb.is_empty)
        denominator, stop_votes = all_reduce_sum(torch.tensor([local_denominator, float(stop.requested)]), context).tolist()
        if stop_votes > 0:
            status = "cancelled"
            break

        step_sums = empty_sums(len(data.channels))
        for accum_step, batch in enumerate(micro_batches):
            last_micro_batch = accum_step == config.grad_accum - 1
            # Only the last micro-batch of the step all-reduces DDP's gradients.
            skip_all_reduce = isinstance(trained, DistributedDataParallel) and not last_micro_batch
            with trained.no_sync() if skip_all_reduce else nullcontext():
                with autocast:
                    out = forward_for_loss(trained, batch, attention)
                if batch.is_empty:
                    # Nothing to learn, but the collectives inside backward need every rank.
                    loss = out.logits.sum() * 0.0
                else:
                    contribution = micro_batch_loss(out.logits, out.labels, out.turn_ids, batch.turn_weights, config.loss)
                    loss = contribution.numerator / denominator
                    step_sums += micro_batch_sums(batch, contribution, len(data.channels))
                if engine is not None:
                    engine.backward(loss * backward_scale)
                    engine.step()  # DeepSpeed only updates at the accumulation boundary
                else:
                    (loss * backward_scale).backward()

        lr = scheduler.get_last_lr()[0]
        grad_norm = clip_and_step(engine, model, optimizer, config.max_grad_norm)
        scheduler.step()
        step_time = time.perf_counter() - step_started

        totals = all_reduce_sum(step_sums, context)
        last_loss = float(totals[LOSS] / denominator)
        state["step"] += 1
        state["samples_consumed"] += len(conversation_ids)
        if state["first_loss"] is None:
            state["first_loss"] = last_loss
        step = state["step"]
        if step % config.log_every == 0 or step == total_steps:
            metrics.write(train_record(step=step, loss=last_loss, lr=lr, totals=totals, channels=data.channels,
                                       step_time=step_time, grad_norm=grad_norm, samples_consumed=state["samples_consumed"],
                                       num_conversations=num_conversations))
        if data.eval and config.eval_every and step % config.eval_every == 0 and step < total_steps:
            eval_loss = evaluate_now()
        if config.save_every and step % config.save_every == 0:
            save_checkpoint(output=output, step=step, model=model, tokenizer=tokenizer, optimizer=optimizer,
                            scheduler=scheduler, engine=engine, trainer_state=state, keep=config.keep_checkpoints,
                            context=context)

    final_model = None
    if status == "completed":
        if data.eval:
            eval_loss = evaluate_now()
        if context.is_main:
            final_model = str(save_final_model(output=output, model=model, tokenizer=tokenizer))
        barrier(context)
    metrics.close()
    result = {
        "status": status,
        "steps": state["step"],
        "total_steps": total_steps,
        "final_loss": json_number(last_loss) if last_loss is not None else None,
        "first_loss": state["first_loss"],
        "last_loss": json_number(last_loss) if last_loss is not None else None,
        "eval_loss": eval_loss,
        "samples_consumed": state["samples_consumed"],
        "epochs": state["samples_consumed"] / num_conversations,
        "dropped_turns": data.train_report.dropped_turns,
        "dropped_conversations": data.train_report.dropped_conversations,
        "train_data": data.train_report.as_dict(),
        "eval_data": data.eval_report.as_dict() if data.eval_report else None,
        "channels": data.channels,
        "final_model": final_model,
        "resumed_from": str(checkpoint) if checkpoint else None,
        "world_size": context.world_size,
        "deepspeed": engine is not None,
        "started_at": started,
        "finished_at": time.time(),
        "config": config_as_dict(config),
    }
    if context.is_main:
        write_json_atomically(output / "result.json", result)
    return result


def wrap_for_data_parallel(model, optimizer, config: TrainConfig, context: DistributedContext, bf16: bool):
    """(DeepSpeed engine or None, the module the forward pass goes through)."""
    if config.deepspeed is not None:
        import deepspeed

        engine, _, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, config=deepspeed_config(config, context.world_size, bf16)
        )
        return engine, engine
    if context.world_size > 1:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        return None, DistributedDataParallel(model, device_ids=device_ids)
    return None, model


def clip_and_step(engine, model, optimizer, max_grad_norm: float) -> float | None:
    """Clip the global gradient norm, update, clear; DeepSpeed did all of it in engine.step()."""
    if engine is not None:
        return engine.get_global_grad_norm()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm or math.inf)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)


def collate_for(data: PreparedData, conversation_ids: list[int], config: TrainConfig, pad_token_id: int) -> MicroBatch:
    return collate([data.train[i] for i in conversation_ids], channel_index=data.channel_index,
                   pad_token_id=pad_token_id, packing=config.packing, max_len=config.max_len)


@torch.no_grad()
def evaluate(model, data, config, context, pad_token_id, attention, autocast, metrics, step) -> float | None:
    """Per-turn loss over the whole eval set; each rank takes every world_size-th conversation.
    No collective runs inside, so ranks may hold different numbers of batches."""
    sums = empty_sums(len(data.channels))
    mine = data.eval[context.rank :: context.world_size]
    model.eval()
    for start in range(0, len(mine), config.micro_batch_size):
        batch = collate(mine[start : start + config.micro_batch_size], channel_index=data.channel_index,
                        pad_token_id=pad_token_id, packing=config.packing, max_len=config.max_len).to(context.device)
        with autocast:
            out = forward_for_loss(model, batch, attention)
        contribution = micro_batch_loss(out.logits, out.labels, out.turn_ids, batch.turn_weights, "per_turn")
        sums += micro_batch_sums(batch, contribution, len(data.channels))
    model.train()
    totals = all_reduce_sum(sums, context)
    turn_weight = float(totals[CHANNELS_START + len(data.channels) :].sum())  # every turn is in one channel
    eval_loss = json_number(float(totals[LOSS]) / turn_weight)
    eval_channels = channel_losses(totals, data.channels)
    metrics.write({"kind": "eval", "step": step, "eval_loss": eval_loss, "eval_channels": eval_channels})
    return eval_loss


def conversations_for_step(num_conversations: int, global_batch_size: int, samples_consumed: int, seed: int) -> list[int]:
    """The conversations of the next step: a slice of this epoch's seeded permutation. A step
    never spans two epochs, so the last one of an epoch may be short."""
    epoch, offset = divmod(samples_consumed, num_conversations)
    order = torch.randperm(num_conversations, generator=torch.Generator().manual_seed(seed + epoch))
    return order[offset : offset + global_batch_size].tolist()


def prepare_data(config: TrainConfig, tokenizer) -> PreparedData:
    train_conversations, train_report = tokenize_conversations(
        tokenizer, read_conversations(config.data, config.supervise), config.max_len
    )
    if not train_conversations:
        raise ConfigError(f"no conversation of {config.data} fits max_len={config.max_len} with a supervised turn")
    eval_conversations, eval_report = [], None
    if config.eval_data:
        eval_conversations, eval_report = tokenize_conversations(
            tokenizer, read_conversations(config.eval_data, config.supervise), config.max_len
        )
    channels = sorted({c.task_type for c in train_conversations + eval_conversations})
    return PreparedData(train_conversations, train_report, eval_conversations, eval_report, channels,
                        dataset_fingerprint(train_conversations))


def resolve_bf16(config: TrainConfig, device: torch.device) -> bool:
    if config.bf16 is None:
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    if config.bf16 and device.type != "cuda":
        raise ConfigError("bf16 needs a CUDA GPU; leave it unset (auto) on CPU")
    return config.bf16


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
