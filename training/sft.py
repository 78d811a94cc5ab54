"""Supervised fine-tuning: the one training loop, and the plan of stages around it.

Per optimizer step:
  1. take the step's global batch (micro_batch_size * grad_accum * ranks conversations) from the
     seeded epoch order, split it into [accumulation step][rank] micro-batches, collate this rank's;
  2. count the global denominator (turns, or tokens, or micro-batches) from the data and
     all-reduce it, together with the stop flag, before any forward pass;
  3. forward and backward every micro-batch with loss = numerator / denominator, multiplied back by
     whatever the framework divides by (DDP: ranks; DeepSpeed: ranks * accumulation steps);
  4. clip, step, schedule; all-reduce the detached sums for the log line; let the health monitor
     look at the step (training/health.py).

A run is a plan of stages (training/stages.py): one unnamed stage without `stages` in the
config, laid out as before plans existed. Each stage is that loop, from the previous stage's
weights with a fresh optimizer and schedule.
"""

from __future__ import annotations

import gc
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

from training.checkpoint import load_training_state, save_checkpoint, save_final_model, save_stage_record
from training.collate import MicroBatch, collate, plan_micro_batches
from training.config import ConfigError, TrainConfig, config_as_dict
from training.conventions import METRICS_FILE, RESULT_FILE
from training.distributed import DistributedContext, all_reduce_sum, barrier, setup_distributed, teardown_distributed
from training.health import HealthMonitor
from training.loss import micro_batch_denominator_share, micro_batch_loss
from training.metrics import MetricsWriter, json_number, read_alerts, write_json_atomically
from training.modeling import forward_for_loss, load_tokenizer, pad_token_id_of, quiet_transformers, resolve_attention
from training.optim import build_optimizer, build_scheduler, deepspeed_config
from training.preparation import PreparedData, build_model, prepare_stages, start_weights, vocabulary_size
from training.reporting import LOSS, channel_losses, empty_sums, micro_batch_sums, train_record, turn_weight_total
from training.resume import RunDirectoryInUse, agreed_resume_point, checked_resume_state, forget_later_stages
from training.special_tokens import AddedTokens, add_tokens_to_tokenizer
from training.stages import Stage, plan_stages, stage_dir, stage_record


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


@dataclass
class RunSetup:
    """What every stage of a run shares."""

    config: TrainConfig
    context: DistributedContext
    output: Path
    stop: StopRequest
    metrics: MetricsWriter
    tokenizer: object
    added: AddedTokens
    pad_token_id: int
    attention: str
    bf16: bool
    global_batch_size: int


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
            failure = {
                "status": "failed",
                "error": f"{type(error).__name__}: {error}",
                "started_at": started,
                "finished_at": time.time(),
                "config": config_as_dict(config),
            }
            write_json_atomically(output / RESULT_FILE, failure)
        raise
    finally:
        teardown_distributed()


def train(config: TrainConfig, context: DistributedContext, output: Path, stop: StopRequest, started: float) -> dict:
    stages = plan_stages(config)
    seed_everything(config.seed)
    quiet_transformers()
    tokenizer = load_tokenizer(config.model)
    added = add_tokens_to_tokenizer(tokenizer, config.add_special_tokens)
    prepared = prepare_stages(stages, tokenizer, added)
    bf16 = resolve_bf16(config, context.device)
    global_batch_size = config.micro_batch_size * config.grad_accum * context.world_size
    totals = [
        stage.config.max_steps or stage.config.epochs * math.ceil(len(data.train) / global_batch_size)
        for stage, data in zip(stages, prepared)
    ]
    offsets = [sum(totals[:index]) for index in range(len(stages))]
    point = agreed_resume_point(config, output, stages, context)
    if context.is_main:
        (output / RESULT_FILE).unlink(missing_ok=True)
    resuming = config.resume != "no" and (output / METRICS_FILE).exists()
    run = RunSetup(
        config,
        context,
        output,
        stop,
        MetricsWriter(output / METRICS_FILE, enabled=context.is_main),
        tokenizer,
        added,
        pad_token_id_of(tokenizer),
        resolve_attention(config.attn_implementation, context.device, bf16),
        bf16,
        global_batch_size,
    )

    outcomes = [stage_record(output, stage) for stage in stages[: point.stage_index]]
    for stage in stages[point.stage_index :]:
        first = stage.index == point.stage_index
        outcome = train_stage(
            run,
            stages,
            stage,
            prepared[stage.index],
            totals[stage.index],
            offsets[stage.index],
            checkpoint=point.checkpoint if first else None,
            resumed=resuming and first,
        )
        outcomes.append(outcome)
        if outcome["status"] != "completed":
            break
    if point.stage_index == len(stages) and resuming:
        run.metrics.write({"kind": "resumed", "step": sum(totals), "checkpoint": None})
    run.metrics.close()
    result = run_result(run, stages, prepared, outcomes, totals, point.checkpoint, started)
    if context.is_main:
        write_json_atomically(output / RESULT_FILE, result)
    return result


def stage_tags(stage: Stage, stage_step: int) -> dict:
    """What every metrics line of a plan's stage carries (nothing in a run without stages)."""
    if not stage.staged:
        return {}
    return {"stage": stage.name, "stage_number": stage.number, "stage_step": stage_step}


def train_stage(
    run: RunSetup,
    stages: list[Stage],
    stage: Stage,
    data: PreparedData,
    total_steps: int,
    offset: int,
    *,
    checkpoint: Path | None,
    resumed: bool,
) -> dict:
    """One stage: the training loop from the stage's start weights (or its checkpoint) to its
    model; returns the stage's outcome (what result.json's `stages` lists). `resumed`: the
    first stage this process trains after a restart (metrics.jsonl says where it went on from)."""
    config, context, output, metrics = stage.config, run.context, run.output, run.metrics
    seed_everything(stage.seed)
    state = {
        "step": 0,
        "samples_consumed": 0,
        "first_loss": None,
        "dataset_fingerprint": data.fingerprint,
        "global_batch_size": run.global_batch_size,
        "total_steps": total_steps,
        "deepspeed": config.deepspeed is not None,
        "world_size": context.world_size,
    }
    state.update(
        {
            key: value
            for key, value in (
                ("stage", stage.name),
                ("lora_r", config.lora_r),
                ("added_tokens", list(run.added.tokens)),
            )
            if value
        }
    )
    if checkpoint is not None:  # before loading anything: a checkpoint of another run is refused at once
        state = checked_resume_state(checkpoint, state)
    model = build_model(
        stage=stage,
        start=start_weights(output, stages, stage),
        checkpoint=checkpoint,
        added=run.added,
        tokenizer_size=len(run.tokenizer),
        attention=run.attention,
        device=context.device,
    )
    health = HealthMonitor(window=config.alert_window, vocab_size=vocabulary_size(model))
    num_conversations = len(data.train)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps)
    engine, trained = wrap_for_data_parallel(model, optimizer, config, context, run.bf16)
    # DeepSpeed divides by the accumulation steps and averages over ranks; DDP averages over ranks.
    backward_scale = context.world_size * (config.grad_accum if engine is not None else 1)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if run.bf16 and engine is None else nullcontext()

    if checkpoint is not None:
        load_training_state(
            checkpoint=checkpoint, optimizer=optimizer, scheduler=scheduler, engine=engine, context=context
        )
        health.load_state(state.get("health", {}))
    if context.is_main and stage.staged:
        forget_later_stages(output, stages, stage.index)  # trained again: their old records are stale
    if resumed:
        metrics.write(
            {"kind": "resumed", "step": offset + state["step"], "checkpoint": str(checkpoint) if checkpoint else None}
        )

    def evaluate_now() -> float | None:
        return evaluate(
            model,  # noqa: F821 (pyflakes reads the `del model` after the loop; this runs before it)
            data,
            config,
            context,
            run.pad_token_id,
            run.attention,
            autocast,
            metrics,
            offset + state["step"],
            stage_tags(stage, state["step"]),
        )

    lengths = [len(conversation) for conversation in data.train]
    status, last_loss, eval_loss, stop_reason = "completed", None, None, None
    while state["step"] < total_steps:
        step_started = time.perf_counter()
        conversation_ids = conversations_for_step(
            num_conversations, run.global_batch_size, state["samples_consumed"], stage.seed
        )
        plan = plan_micro_batches(
            conversation_ids, lengths, config.micro_batch_size, config.grad_accum, context.world_size
        )
        micro_batches = [
            collate_for(data, ids[context.rank], config, run.pad_token_id).to(context.device) for ids in plan
        ]
        local_denominator = sum(
            micro_batch_denominator_share(mb.labels, mb.turn_ids, mb.turn_weights, config.loss)
            for mb in micro_batches
            if not mb.is_empty
        )
        denominator, stop_votes = all_reduce_sum(
            torch.tensor([local_denominator, float(run.stop.requested)]), context
        ).tolist()
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
                    out = forward_for_loss(trained, batch, run.attention)
                if batch.is_empty:
                    # Nothing to learn, but the collectives inside backward need every rank.
                    loss = out.logits.sum() * 0.0
                else:
                    contribution = micro_batch_loss(
                        out.logits, out.labels, out.turn_ids, batch.turn_weights, config.loss
                    )
                    loss = contribution.numerator / denominator
                    step_sums += micro_batch_sums(batch, contribution, len(data.channels), data.special_token_ids)
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
        step, tags = state["step"], stage_tags(stage, state["step"])
        if step % config.log_every == 0 or step == total_steps:
            metrics.write(
                {
                    **train_record(
                        step=offset + step,
                        loss=last_loss,
                        lr=lr,
                        totals=totals,
                        channels=data.channels,
                        step_time=step_time,
                        grad_norm=grad_norm,
                        samples_consumed=state["samples_consumed"],
                        num_conversations=num_conversations,
                    ),
                    **tags,
                }
            )
        # Every rank sees the same all-reduced loss and global gradient norm, so all decide alike.
        alerts = health.observe(
            step=offset + step,
            loss=last_loss,
            grad_norm=grad_norm,
            channels=channel_losses(totals, data.channels),
            first_step=step == 1,
        )
        for alert in alerts:
            metrics.write({"kind": "alert", "step": offset + step, **tags, **alert})
        if alerts and config.stop_on_alert:
            status, stop_reason = "stopped", alerts[0]["message"]
            break
        if data.eval and config.eval_every and step % config.eval_every == 0 and step < total_steps:
            eval_loss = evaluate_now()
        if config.save_every and step % config.save_every == 0:
            state["health"] = health.state()
            save_checkpoint(
                output=output,
                step=step,
                model=model,
                tokenizer=run.tokenizer,
                optimizer=optimizer,
                scheduler=scheduler,
                engine=engine,
                trainer_state=state,
                keep=config.keep_checkpoints,
                context=context,
                stage=stage if stage.staged else None,
            )

    final_model = None
    if status == "completed":
        if data.eval:
            eval_loss = evaluate_now()
        last = stage.index == len(stages) - 1
        if context.is_main:
            target = None if last else stage_dir(output, stage)  # the last stage's model is final/
            final_model = str(save_final_model(output=output, model=model, tokenizer=run.tokenizer, target=target))
        barrier(context)
    outcome = {
        "number": stage.number,
        "name": stage.name,
        "status": status,
        "steps": state["step"],
        "total_steps": total_steps,
        "first_step": offset + 1,
        "last_step": offset + state["step"],
        "first_loss": state["first_loss"],
        "last_loss": json_number(last_loss) if last_loss is not None else None,
        "eval_loss": eval_loss,
        "samples_consumed": state["samples_consumed"],
        "epochs": state["samples_consumed"] / num_conversations,
        "final_model": final_model,
        "resumed_from": str(checkpoint) if checkpoint else None,
        "stop_reason": stop_reason,
        "data": config.data,
        "train_data": data.train_report.as_dict(),
        "eval_data": data.eval_report.as_dict() if data.eval_report else None,
    }
    if status == "completed" and stage.staged and context.is_main:
        save_stage_record(directory=stage_dir(output, stage), record=outcome)
    barrier(context)
    del model, optimizer, scheduler, engine, trained
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the next stage loads a model of its own
    return outcome


def run_result(
    run: RunSetup,
    stages: list[Stage],
    prepared: list[PreparedData],
    outcomes: list[dict],
    totals: list[int],
    resumed_from: Path | None,
    started: float,
) -> dict:
    """result.json: a run without stages reports as it always did; a plan adds `stages`."""
    config, context = run.config, run.context
    last = outcomes[-1] if outcomes else None
    status = last["status"] if last else "completed"
    result = {
        "status": status,
        "steps": sum(outcome["steps"] for outcome in outcomes),
        "total_steps": sum(totals),
        "final_loss": last["last_loss"] if last else None,
        "first_loss": outcomes[0]["first_loss"] if outcomes else None,
        "last_loss": last["last_loss"] if last else None,
        "eval_loss": last["eval_loss"] if last else None,
        "samples_consumed": sum(outcome["samples_consumed"] for outcome in outcomes),
        "epochs": last["epochs"] if not stages[0].staged else None,
        "dropped_turns": sum(data.train_report.dropped_turns for data in prepared),
        "dropped_conversations": sum(data.train_report.dropped_conversations for data in prepared),
        "train_data": prepared[0].train_report.as_dict() if not stages[0].staged else None,
        "eval_data": (prepared[0].eval_report.as_dict() if prepared[0].eval_report else None)
        if not stages[0].staged
        else None,
        "channels": prepared[0].channels,
        "final_model": last["final_model"] if status == "completed" and len(outcomes) == len(stages) else None,
        "resumed_from": str(resumed_from) if resumed_from else None,
        "world_size": context.world_size,
        "deepspeed": config.deepspeed is not None,
        "started_at": started,
        "finished_at": time.time(),
        "config": config_as_dict(config),
        "alerts": read_alerts(run.output / METRICS_FILE) if context.is_main else [],
    }
    if status == "stopped":
        result["stop_reason"] = last["stop_reason"]
    if run.added.tokens:
        result["added_tokens"] = run.added.as_dict()
    if stages[0].staged:
        reached = {outcome["number"] for outcome in outcomes}
        result["stages"] = [
            *outcomes,
            *(
                {
                    "number": stage.number,
                    "name": stage.name,
                    "status": "pending",
                    "steps": 0,
                    "total_steps": totals[stage.index],
                    "first_loss": None,
                    "last_loss": None,
                    "final_model": None,
                }
                for stage in stages
                if stage.number not in reached
            ),
        ]
    return result


def wrap_for_data_parallel(model, optimizer, config: TrainConfig, context: DistributedContext, bf16: bool):
    """(DeepSpeed engine or None, the module the forward pass goes through)."""
    if config.deepspeed is not None:
        # Deferred: deepspeed is slow to import, and only DeepSpeed runs need it.
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
        norm = engine.get_global_grad_norm()  # a tensor, or None before the first update
        return float(norm) if norm is not None else None
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm or math.inf)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)


def collate_for(data: PreparedData, conversation_ids: list[int], config: TrainConfig, pad_token_id: int) -> MicroBatch:
    return collate(
        [data.train[i] for i in conversation_ids],
        channel_index=data.channel_index,
        pad_token_id=pad_token_id,
        packing=config.packing,
        max_len=config.max_len,
    )


@torch.no_grad()
def evaluate(model, data, config, context, pad_token_id, attention, autocast, metrics, step, tags) -> float | None:
    """Per-turn loss over the whole eval set; each rank takes every world_size-th conversation.
    No collective runs inside, so ranks may hold different numbers of batches."""
    sums = empty_sums(len(data.channels))
    mine = data.eval[context.rank :: context.world_size]
    model.eval()
    for start in range(0, len(mine), config.micro_batch_size):
        batch = collate(
            mine[start : start + config.micro_batch_size],
            channel_index=data.channel_index,
            pad_token_id=pad_token_id,
            packing=config.packing,
            max_len=config.max_len,
        ).to(context.device)
        with autocast:
            out = forward_for_loss(model, batch, attention)
        contribution = micro_batch_loss(out.logits, out.labels, out.turn_ids, batch.turn_weights, "per_turn")
        sums += micro_batch_sums(batch, contribution, len(data.channels), data.special_token_ids)
    model.train()
    totals = all_reduce_sum(sums, context)
    eval_loss = json_number(float(totals[LOSS]) / turn_weight_total(totals, len(data.channels)))
    eval_channels = channel_losses(totals, data.channels)
    metrics.write({"kind": "eval", "step": step, "eval_loss": eval_loss, "eval_channels": eval_channels, **tags})
    return eval_loss


def conversations_for_step(
    num_conversations: int, global_batch_size: int, samples_consumed: int, seed: int
) -> list[int]:
    """The conversations of the next step: a slice of this epoch's seeded permutation. A step
    never spans two epochs, so the last one of an epoch may be short."""
    epoch, offset = divmod(samples_consumed, num_conversations)
    order = torch.randperm(num_conversations, generator=torch.Generator().manual_seed(seed + epoch))
    return order[offset : offset + global_batch_size].tolist()


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
