"""Checkpoints that are either complete or absent.

Everything is written into `checkpoints/.tmp-step-N/` and renamed to `checkpoints/step-N/` only
when every rank has finished writing; a rename within one directory is atomic, so a process killed
mid-write leaves a `.tmp-*` directory that resume never looks at (and the next save removes).

A checkpoint holds the model in Hugging Face format (loadable with from_pretrained), the
optimizer and scheduler states (or DeepSpeed's ZeRO shards under `deepspeed/`), every rank's RNG
states and `trainer_state.json` with the step and the number of samples consumed.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.contract import (  # noqa: F401 (listing checkpoints is part of the contract)
    checkpoint_dir,
    complete_checkpoints,
    latest_checkpoint,
    read_trainer_state,
)
from training.conventions import FINAL_DIR, STAGE_FILE, STATE_FILE
from training.distributed import DistributedContext, barrier
from training.lora import mergeable
from training.metrics import write_json_atomically

DEEPSPEED_TAG = "deepspeed"


def fsync_tree(path: Path) -> None:
    """Flush file contents and directory entries so a crash right after the rename cannot leave
    a complete-looking checkpoint with empty files."""
    for root, _, files in os.walk(path):
        for name in files:
            with open(Path(root) / name, "rb") as handle:
                os.fsync(handle.fileno())
        fsync_directory(Path(root))


def fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish_directory(temporary: Path, final: Path) -> None:
    """Atomically make `temporary` visible as `final`, replacing an older `final` if any."""
    fsync_tree(temporary)
    if final.exists():
        retired = final.with_name(f".old-{final.name}")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(final, retired)
        os.replace(temporary, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(temporary, final)
    fsync_directory(final.parent)


def rng_state() -> dict[str, Any]:
    """Every RNG's state as plain data (ints, floats, strings, tensors), so that it loads with
    `weights_only=True`: numpy's key array becomes a list of ints."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {**numpy_state["state"], "key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32)}
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _load_data(path: Path, **kwargs) -> Any:
    """torch.load that unpickles plain data and tensors only: a checkpoint file someone planted
    cannot run code at resume. UnpicklingError names the file."""
    try:
        return torch.load(path, weights_only=True, **kwargs)
    except pickle.UnpicklingError as exc:
        raise pickle.UnpicklingError(
            f"{path} holds more than tensors and plain data; it is not loaded: {exc}"
        ) from None


def save_checkpoint(
    *,
    output: Path,
    step: int,
    model: torch.nn.Module,
    tokenizer,
    optimizer: torch.optim.Optimizer,
    scheduler,
    engine,
    trainer_state: dict[str, Any],
    keep: int,
    context: DistributedContext,
    stage=None,
) -> Path:
    """Write checkpoint `step` (of `stage` in a plan) from every rank (all must call this) and
    return its path. Under LoRA the model part is the adapter (peft's save_pretrained)."""
    final = checkpoint_dir(output, step, stage)
    temporary = final.with_name(f".tmp-{final.name}")
    if context.is_main:
        for stale in final.parent.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        temporary.mkdir(parents=True)
    barrier(context)
    if engine is not None:
        # ZeRO shards the optimizer state: every rank writes its own part.
        engine.save_checkpoint(str(temporary), tag=DEEPSPEED_TAG, save_latest=False)
    torch.save(rng_state(), temporary / f"rng-rank{context.rank}.pt")
    if context.is_main:
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        if engine is None:
            torch.save(optimizer.state_dict(), temporary / "optimizer.pt")
        torch.save(scheduler.state_dict(), temporary / "scheduler.pt")
        # The state file goes last: its presence is what makes a directory a checkpoint.
        (temporary / STATE_FILE).write_text(json.dumps(trainer_state, indent=2))
    barrier(context)
    if context.is_main:
        publish_directory(temporary, final)
        for old in complete_checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(context)
    return final


def _check_deepspeed_shards(directory: Path) -> None:
    """DeepSpeed unpickles its shards with weights_only=False. Each is first opened as data
    (memory-mapped, so nothing is read twice), allowing only DeepSpeed's own plain records: a
    planted shard is refused before DeepSpeed touches it."""
    # Imported here: only DeepSpeed runs get this far, and deepspeed is slow to import.
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    with torch.serialization.safe_globals([LossScaler, ZeroStageEnum, fragment_address]):
        for shard in sorted(directory.rglob("*.pt")):
            _load_data(shard, mmap=True, map_location="cpu")


def load_training_state(
    *, checkpoint: Path, optimizer: torch.optim.Optimizer, scheduler, engine, context: DistributedContext
) -> None:
    """Restore optimizer, scheduler and RNG states (the weights come from from_pretrained)."""
    if engine is not None:
        _check_deepspeed_shards(checkpoint / DEEPSPEED_TAG)
        engine.load_checkpoint(
            str(checkpoint), tag=DEEPSPEED_TAG, load_optimizer_states=True, load_lr_scheduler_states=False
        )
    else:
        optimizer.load_state_dict(_load_data(checkpoint / "optimizer.pt", map_location=context.device))
    scheduler.load_state_dict(_load_data(checkpoint / "scheduler.pt"))
    rng_file = checkpoint / f"rng-rank{context.rank}.pt"
    if rng_file.is_file():
        restore_rng_state(_load_data(rng_file))


def save_final_model(*, output: Path, model: torch.nn.Module, tokenizer, target: Path | None = None) -> Path:
    """OUTPUT/final/ (or `target`, a stage's model) in Hugging Face format, published atomically
    like a checkpoint. LoRA adapters are merged into the weights first, so the directory loads
    with from_pretrained alone (the merge changes `model`: call this when training is over)."""
    final = Path(target) if target is not None else output / FINAL_DIR
    temporary = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(temporary, ignore_errors=True)
    mergeable(model).save_pretrained(temporary)
    tokenizer.save_pretrained(temporary)
    publish_directory(temporary, final)
    return final


def save_stage_record(*, directory: Path, record: dict[str, Any]) -> None:
    """Mark a stage complete: stage.json goes into its directory (beside the stage's model, if
    any) by an atomic write, so a stage either has its record or is not complete."""
    directory.mkdir(parents=True, exist_ok=True)
    write_json_atomically(directory / STAGE_FILE, record)
    fsync_directory(directory)
