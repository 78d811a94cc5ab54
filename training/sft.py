"""Supervised fine-tuning: the one training loop, and the helpers it reads like prose with.

Per optimizer step:
  1. take the step's global batch (micro_batch_size * grad_accum * ranks conversations) from the
     seeded epoch order, split it into [accumulation step][rank] micro-batches, collate ours;
  2. count the global denominator (turns, or tokens, or micro-batches) from the data and
     all-reduce it, together with the stop flag, before any forward pass;
  3. forward and backward every micro-batch with loss = numerator / denominator, multiplied back by
     whatever the framework divides by (DDP: ranks; DeepSpeed: ranks * accumulation steps);
  4. clip, step, schedule; all-reduce the detached numerators for the log line.
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

from training.checkpoint import (
    STATE_FILE,
    latest_checkpoint,
    load_training_state,
    read_trainer_state,
    save_checkpoint,
    save_final_model,
)
from training.collate import collate, plan_micro_batches
from training.config import ConfigError, TrainConfig, config_as_dict
from training.data import read_conversations
from training.distributed import (
    DistributedContext,
    all_reduce_sum,
    barrier,
    broadcast_object,
    setup_distributed,
    teardown_distributed,
)
from training.loss import NO_TURN, micro_batch_denominator_share, micro_batch_loss
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
from training.tokenization import TokenizationReport, TokenizedConversation, dataset_fingerprint, tokenize_conversations

RUN_OUTPUTS = ("metrics.jsonl", "result.json", "checkpoints", "final")


@dataclass
class PreparedData:
    train: list[TokenizedConversation]
    train_report: TokenizationReport
    eval: list[TokenizedConversation]
    eval_report: TokenizationReport | None
    channels: list[str]
    """Sorted task_types of train and eval data: the same channel index on every rank."""
    fingerprint: str


class RunDirectoryInUse(ConfigError):
    """The output directory holds another run's results; they are left untouched."""


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
    model = load_model(str(checkpoint or config.model), attention, config.gradient_checkpointing).to(context.device)

    num_conversations = len(data.train)
    global_batch_size = config.micro_batch_size * config.grad_accum * context.world_size
    total_steps = config.max_steps or config.epochs * math.ceil(num_conversations / global_batch_size)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps)
    engine, trained = None, model
    if config.deepspeed is not None:
        import deepspeed

        ds_config = deepspeed_config(config, context.world_size, bf16)
        engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
        trained = engine
    elif context.world_size > 1:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        trained = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    # DeepSpeed divides by the accumulation steps and averages over ranks; DDP averages over ranks.
    backward_scale = context.world_size * (config.grad_accum if engine is not None else 1)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and engine is None else nullcontext()

    trainer_state = {"step": 0, "samples_consumed": 0, "first_loss": None, "dataset_fingerprint": data.fingerprint,
                     "global_batch_size": global_batch_size, "total_steps": total_steps,
                     "deepspeed": engine is not None, "world_size": context.world_size}
    if checkpoint is not None:
        trainer_state = checked_resume_state(checkpoint, trainer_state)
        load_training_state(checkpoint=checkpoint, optimizer=optimizer, scheduler=scheduler, engine=engine, context=context)
    if context.is_main:
        (output / "result.json").unlink(missing_ok=True)
    resuming = config.resume != "no" and (output / "metrics.jsonl").exists()
    metrics = MetricsWriter(output / "metrics.jsonl", enabled=context.is_main)
    if resuming:
        metrics.write({"kind": "resumed", "step": trainer_state["step"], "checkpoint": str(checkpoint) if checkpoint else None})

    channel_index = {name: index for index, name in enumerate(data.channels)}
    num_channels = len(data.channels)
    lengths = [len(conversation) for conversation in data.train]
    status, last_loss, last_eval = "completed", None, None
    while trainer_state["step"] < total_steps:
        step_started = time.perf_counter()
        conversation_ids = conversations_for_step(num_conversations, global_batch_size, trainer_state["samples_consumed"], config.seed)
        plan = plan_micro_batches(conversation_ids, lengths, config.micro_batch_size, config.grad_accum, context.world_size)
        micro_batches = [
            collate([data.train[i] for i in plan[accum_step][context.rank]], channel_index=channel_index,
                    pad_token_id=pad_token_id, packing=config.packing, max_len=config.max_len).to(context.device)
            for accum_step in range(config.grad_accum)
        ]
        local_denominator = sum(
            micro_batch_denominator_share(mb.labels, mb.turn_ids, mb.turn_weights, config.loss) for mb in micro_batches if not mb.is_empty
        )
        denominator, stop_votes = all_reduce_sum(torch.tensor([local_denominator, float(stop.requested)]), context).tolist()
        if stop_votes > 0:
            status = "cancelled"
            break

        # Local sums: [loss numerator, real tokens, padding tokens, turns, supervised tokens,
        # channel loss sums (C), channel turn weights (C)], all-reduced once after the step.
        step_sums = torch.zeros(5 + 2 * num_channels, dtype=torch.float64)
        for accum_step, batch in enumerate(micro_batches):
            last_micro_batch = accum_step == config.grad_accum - 1
            no_sync = trained.no_sync() if isinstance(trained, torch.nn.parallel.DistributedDataParallel) and not last_micro_batch else nullcontext()
            with no_sync:
                with autocast:
                    out = forward_for_loss(trained, batch, attention)
                if batch.is_empty:
                    # Nothing to learn, but the collectives inside backward need every rank.
                    loss = out.logits.sum() * 0.0
                else:
                    contribution = micro_batch_loss(out.logits, out.labels, out.turn_ids, batch.turn_weights, config.loss)
                    loss = contribution.numerator / denominator
                    step_sums += micro_batch_sums(batch, contribution, num_channels)
                if engine is not None:
                    engine.backward(loss * backward_scale)
                    engine.step()  # DeepSpeed only updates at the accumulation boundary
                else:
                    (loss * backward_scale).backward()

        lr = scheduler.get_last_lr()[0]
        if engine is not None:
            grad_norm = engine.get_global_grad_norm()
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm or math.inf)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        step_time = time.perf_counter() - step_started

        totals = all_reduce_sum(step_sums, context)
        last_loss = float(totals[0] / denominator)
        trainer_state["step"] += 1
        trainer_state["samples_consumed"] += len(conversation_ids)
        if trainer_state["first_loss"] is None:
            trainer_state["first_loss"] = last_loss
        step = trainer_state["step"]
        if step % config.log_every == 0 or step == total_steps:
            metrics.write(train_record(
                step=step, loss=last_loss, lr=lr, totals=totals, channels=data.channels, step_time=step_time,
                grad_norm=grad_norm, samples_consumed=trainer_state["samples_consumed"], num_conversations=num_conversations,
            ))
        if data.eval and config.eval_every and step % config.eval_every == 0 and step < total_steps:
            last_eval = evaluate_and_log(model, data, config, context, channel_index, pad_token_id, attention, autocast, metrics, step)
        if config.save_every and step % config.save_every == 0:
            save_checkpoint(output=output, step=step, model=model, tokenizer=tokenizer, optimizer=optimizer,
                            scheduler=scheduler, engine=engine, trainer_state=trainer_state,
                            keep=config.keep_checkpoints, context=context)

    final_model = None
    if status == "completed":
        if data.eval:
            last_eval = evaluate_and_log(model, data, config, context, channel_index, pad_token_id, attention, autocast, metrics, trainer_state["step"])
        if context.is_main:
            final_model = str(save_final_model(output=output, model=model, tokenizer=tokenizer))
        barrier(context)
    metrics.close()
    result = {
        "status": status,
        "steps": trainer_state["step"],
        "total_steps": total_steps,
        "final_loss": json_number(last_loss) if last_loss is not None else None,
        "first_loss": trainer_state["first_loss"],
        "last_loss": json_number(last_loss) if last_loss is not None else None,
        "eval_loss": last_eval,
        "samples_consumed": trainer_state["samples_consumed"],
        "epochs": trainer_state["samples_consumed"] / num_conversations,
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


def micro_batch_sums(batch, contribution, num_channels: int) -> torch.Tensor:
    """This micro-batch's share of the step's logged sums (see the layout in train())."""
    turn_means = contribution.turn_means.to("cpu", torch.float64)
    weights = batch.turn_weights.to("cpu", torch.float64)
    channels = batch.turn_channels.to("cpu")
    channel_loss = torch.zeros(num_channels, dtype=torch.float64).index_add(0, channels, weights * turn_means)
    channel_weight = torch.zeros(num_channels, dtype=torch.float64).index_add(0, channels, weights)
    counts = torch.tensor([
        float(contribution.numerator.detach()), batch.real_tokens, batch.padding_tokens,
        len(weights), int((batch.turn_ids != NO_TURN).sum()),
    ], dtype=torch.float64)
    return torch.cat([counts, channel_loss, channel_weight])


def channel_losses(loss_sums: torch.Tensor, weights: torch.Tensor, channels: list[str]) -> dict[str, float]:
    return {name: float(loss_sums[i] / weights[i]) for i, name in enumerate(channels) if weights[i] > 0}


def train_record(*, step, loss, lr, totals, channels, step_time, grad_norm, samples_consumed, num_conversations) -> dict:
    num_channels = len(channels)
    real_tokens, padding_tokens = float(totals[1]), float(totals[2])
    return {
        "kind": "train",
        "step": step,
        "loss": json_number(loss),
        "lr": lr,
        "tokens_per_s": real_tokens / step_time,
        "padding_ratio": padding_tokens / max(real_tokens + padding_tokens, 1.0),
        "channels": channel_losses(totals[5 : 5 + num_channels], totals[5 + num_channels :], channels),
        "epoch": samples_consumed / num_conversations,
        "samples_consumed": samples_consumed,
        "grad_norm": json_number(float(grad_norm)) if grad_norm is not None else None,
        "turns": int(totals[3]),
        "supervised_tokens": int(totals[4]),
        "tokens": int(real_tokens),
        "step_time_s": step_time,
    }


@torch.no_grad()
def evaluate_and_log(model, data, config, context, channel_index, pad_token_id, attention, autocast, metrics, step) -> float:
    """Per-turn loss over the whole eval set; each rank takes every world_size-th conversation."""
    num_channels = len(data.channels)
    sums = torch.zeros(5 + 2 * num_channels, dtype=torch.float64)
    weight_total = 0.0
    mine = data.eval[context.rank :: context.world_size]
    model.eval()
    for start in range(0, len(mine), config.micro_batch_size):
        batch = collate(mine[start : start + config.micro_batch_size], channel_index=channel_index,
                        pad_token_id=pad_token_id, packing=config.packing, max_len=config.max_len).to(context.device)
        with autocast:
            out = forward_for_loss(model, batch, attention)
        contribution = micro_batch_loss(out.logits, out.labels, out.turn_ids, batch.turn_weights, "per_turn")
        sums += micro_batch_sums(batch, contribution, num_channels)
        weight_total += float(batch.turn_weights.sum())
    model.train()
    totals = all_reduce_sum(torch.cat([sums, torch.tensor([weight_total], dtype=torch.float64)]), context)
    eval_loss = float(totals[0] / totals[-1])
    eval_channels = channel_losses(totals[5 : 5 + num_channels], totals[5 + num_channels : -1], data.channels)
    metrics.write({"kind": "eval", "step": step, "eval_loss": json_number(eval_loss), "eval_channels": eval_channels})
    return json_number(eval_loss)


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


def agreed_resume_checkpoint(config: TrainConfig, output: Path, context: DistributedContext) -> Path | None:
    """Rank 0 decides (before anything is written) and tells the others, so that no rank sees
    a directory another rank has already started writing to."""
    decision = None
    if context.is_main:
        try:
            decision = ("ok", resume_checkpoint(config, output))
        except RunDirectoryInUse as error:
            decision = ("in use", str(error))
        except ConfigError as error:
            decision = ("error", str(error))
    kind, value = broadcast_object(decision, context)
    if kind == "in use":
        raise RunDirectoryInUse(value)
    if kind == "error":
        raise ConfigError(value)
    return value


def resume_checkpoint(config: TrainConfig, output: Path) -> Path | None:
    if config.resume == "no":
        leftovers = [name for name in RUN_OUTPUTS if (output / name).exists()]
        if leftovers:
            raise RunDirectoryInUse(f"{output} already holds a run ({', '.join(leftovers)}); pass --resume to continue it or choose another output")
        return None
    if config.resume == "auto":
        return latest_checkpoint(output)
    path = Path(config.resume)
    if not (path / STATE_FILE).is_file():
        raise ConfigError(f"{path} is not a complete checkpoint (no {STATE_FILE})")
    return path


def checked_resume_state(checkpoint: Path, expected: dict) -> dict:
    saved = read_trainer_state(checkpoint)
    for key, what in (("dataset_fingerprint", "training data (after tokenization)"), ("global_batch_size", "global batch size"),
                      ("total_steps", "number of steps"), ("deepspeed", "use of DeepSpeed")):
        if saved.get(key) != expected[key]:
            raise ConfigError(f"cannot resume from {checkpoint}: the {what} differs ({saved.get(key)!r} then, {expected[key]!r} now)")
    if saved["deepspeed"] and saved["world_size"] != expected["world_size"]:
        raise ConfigError(f"cannot resume DeepSpeed checkpoint {checkpoint} on {expected['world_size']} processes (it has {saved['world_size']})")
    return {**expected, **{key: saved[key] for key in ("step", "samples_consumed", "first_loss")}}


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
