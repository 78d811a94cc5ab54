"""Curation writes: IFD scoring of a dataset version (queued on the gpu worker; the trainer's
`python -m training ifd` does the forward passes in a subprocess, so this process never loads
torch), stored per assistant turn, model and model version."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction

from flywheel.curation.models import TurnScore
from flywheel.datasets.models import DatasetSample, DatasetVersion
from flywheel.i18n import Text
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create
from flywheel.runs.conf import model_roots

MODEL_REFUSED = Text("model: choose a model directory inside the model roots (FLYWHEEL_MODEL_ROOTS)")
HEARTBEAT_S = 20.0


class CurationError(ValueError):
    """Input curation refuses, with a message a person can act on."""


def curation_model_check(path: str) -> str:
    """The resolved model directory a scoring job may read: inside the model roots, with a model
    config and a tokenizer. The same message whether or not an outside path exists."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise CurationError(MODEL_REFUSED) from exc
    if not any(root.resolve() in resolved.parents for root in model_roots()):
        raise CurationError(MODEL_REFUSED)
    if not (resolved / "config.json").is_file():
        raise CurationError(Text("model: %(path)s is not a Hugging Face model directory (no config.json)", path=path))
    if not (resolved / "tokenizer_config.json").is_file():
        raise CurationError(Text("model: %(path)s has no tokenizer (no tokenizer_config.json)", path=path))
    return str(resolved)


def model_fingerprint(model_dir: str) -> str:
    """What identifies the scoring model: its config, tokenizer config and weight files (name and
    size; hashing gigabytes of weights on every job would cost more than the scoring)."""
    directory = Path(model_dir)
    digest = hashlib.sha256()
    for name in ("config.json", "tokenizer_config.json", "chat_template.jinja"):
        if (directory / name).is_file():
            digest.update(name.encode() + b"\0" + (directory / name).read_bytes())
    for weights in sorted(directory.glob("*.safetensors")) + sorted(directory.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()


def curation_ifd_request(*, version_id: int, model: str, user=None, batch_size: int = 8, max_len: int = 2048):
    """Queue IFD scoring of a version's conversations with `model`; the same request while one
    waits returns the waiting job."""
    model_dir = curation_model_check(model)
    if not DatasetVersion.objects.filter(id=version_id).exists():
        raise CurationError(Text("dataset version %(version)s does not exist", version=version_id))
    return job_create(
        kind="curation.ifd",
        created_by=user,
        payload={"version_id": version_id, "model": model_dir, "batch_size": batch_size, "max_len": max_len},
        dedupe_key=f"curation.ifd:{version_id}:{model_dir}",
    )


def _sft_samples(version_id: int) -> list[DatasetSample]:
    return list(DatasetSample.objects.filter(version_id=version_id, kind=DatasetSample.Kind.SFT).order_by("position"))


def curation_ifd_run(
    *,
    version_id: int,
    model: str,
    batch_size: int = 8,
    max_len: int = 2048,
    progress: Progress = progress_ignored,
) -> dict:
    """Score every assistant turn of the version's SFT samples; a second run with the same model
    finds the scores there and changes nothing."""
    model_dir = curation_model_check(model)
    fingerprint = model_fingerprint(model_dir)
    samples = _sft_samples(version_id)
    if not samples:
        raise CurationError(Text("dataset version %(version)s holds no SFT conversation to score", version=version_id))
    already = set(
        TurnScore.objects.filter(version_id=version_id, metric=TurnScore.Metric.IFD, model_version=fingerprint)
        .values_list("sample_id", flat=True)
        .distinct()
    )
    todo = [sample for sample in samples if sample.id not in already]
    if not todo:
        return {"samples": len(samples), "scored_now": 0, "already_scored": len(samples), "model_version": fingerprint}
    with tempfile.TemporaryDirectory(prefix="flywheel-ifd-") as directory:
        data, output = Path(directory) / "data.jsonl", Path(directory) / "ifd.jsonl"
        with data.open("w", encoding="utf-8") as out:
            for sample in todo:
                messages = [{"role": m["role"], "content": m["content"]} for m in sample.record["messages"]]
                out.write(json.dumps({"id": sample.id, "messages": messages}, ensure_ascii=False) + "\n")
        report = _run_trainer_ifd(model_dir, data, output, batch_size, max_len, progress)
        lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {sample.id: sample for sample in todo}
    rows = []
    for line in lines:
        sample = by_id[int(line["id"])]
        message_ids = sample.lineage.get("message_ids") or []
        aligned = len(message_ids) == len(sample.record["messages"])
        for turn in line["turns"]:
            rows.append(
                TurnScore(
                    sample=sample,
                    version_id=version_id,
                    turn=turn["turn"],
                    message_index=turn["message"],
                    message_id=message_ids[turn["message"]] if aligned else None,
                    metric=TurnScore.Metric.IFD,
                    model=model_dir,
                    model_version=fingerprint,
                    value=turn["ifd"],
                    loss_cond=turn["loss_cond"],
                    loss_direct=turn["loss_direct"],
                    tokens=turn["tokens"],
                )
            )
    with transaction.atomic():
        TurnScore.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["sample", "turn", "metric", "model_version"],
            update_fields=["value", "loss_cond", "loss_direct", "tokens", "message_id"],
        )
    unscored = sum(1 for row in rows if row.value is None)
    return {
        "samples": len(samples),
        "scored_now": len(todo),
        "already_scored": len(already),
        "turns": len(rows),
        "unscored_turns": unscored,
        "model_version": fingerprint,
        "conversations_per_s": report.get("conversations_per_s"),
    }


def curation_reward_request(*, version_id: int, model: str, user=None, batch_size: int = 8, max_len: int = 2048):
    """Queue reward scoring (MoDS's quality stage) of a version's conversations with a local
    reward model."""
    model_dir = curation_model_check(model)
    if not DatasetVersion.objects.filter(id=version_id).exists():
        raise CurationError(Text("dataset version %(version)s does not exist", version=version_id))
    return job_create(
        kind="curation.reward",
        created_by=user,
        payload={"version_id": version_id, "model": model_dir, "batch_size": batch_size, "max_len": max_len},
        dedupe_key=f"curation.reward:{version_id}:{model_dir}",
    )


def curation_reward_run(
    *,
    version_id: int,
    model: str,
    batch_size: int = 8,
    max_len: int = 2048,
    progress: Progress = progress_ignored,
) -> dict:
    """A reward per SFT conversation of the version, stored on its last assistant turn. Long
    conversations are cut from the left by the trainer, scored and counted (`truncated`)."""
    model_dir = curation_model_check(model)
    fingerprint = model_fingerprint(model_dir)
    samples = _sft_samples(version_id)
    if not samples:
        raise CurationError(Text("dataset version %(version)s holds no SFT conversation to score", version=version_id))
    already = set(
        TurnScore.objects.filter(
            version_id=version_id, metric=TurnScore.Metric.REWARD, model_version=fingerprint
        ).values_list("sample_id", flat=True)
    )
    todo = [sample for sample in samples if sample.id not in already]
    if not todo:
        return {"samples": len(samples), "scored_now": 0, "already_scored": len(samples), "model_version": fingerprint}
    with tempfile.TemporaryDirectory(prefix="flywheel-reward-") as directory:
        data, output = Path(directory) / "data.jsonl", Path(directory) / "rewards.jsonl"
        with data.open("w", encoding="utf-8") as out:
            for sample in todo:
                messages = [{"role": m["role"], "content": m["content"]} for m in sample.record["messages"]]
                out.write(json.dumps({"id": sample.id, "messages": messages}, ensure_ascii=False) + "\n")
        _run_trainer("reward", model_dir, data, output, batch_size, max_len, progress)
        lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {sample.id: sample for sample in todo}
    rows = []
    for line in lines:
        sample = by_id[int(line["id"])]
        messages = sample.record["messages"]
        assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        message_ids = sample.lineage.get("message_ids") or []
        last = assistant[-1]
        rows.append(
            TurnScore(
                sample=sample,
                version_id=version_id,
                turn=len(assistant) - 1,
                message_index=last,
                message_id=message_ids[last] if len(message_ids) == len(messages) else None,
                metric=TurnScore.Metric.REWARD,
                model=model_dir,
                model_version=fingerprint,
                value=line["reward"],
                tokens=line["tokens"],
            )
        )
    with transaction.atomic():
        TurnScore.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["sample", "turn", "metric", "model_version"],
            update_fields=["value", "tokens", "message_id"],
        )
    return {
        "samples": len(samples),
        "scored_now": len(todo),
        "already_scored": len(already),
        "truncated": sum(1 for line in lines if line["truncated"]),
        "model_version": fingerprint,
    }


def _run_trainer_ifd(
    model_dir: str, data: Path, output: Path, batch_size: int, max_len: int, progress: Progress
) -> dict:
    return _run_trainer("ifd", model_dir, data, output, batch_size, max_len, progress)


def _run_trainer(
    subcommand: str,
    model_dir: str,
    data: Path,
    output: Path,
    batch_size: int,
    max_len: int,
    progress: Progress,
) -> dict:
    return run_trainer_command(
        subcommand,
        ["--model", model_dir, "--data", str(data), "--output", str(output)]
        + ["--batch-size", str(batch_size), "--max-len", str(max_len)],
        progress,
    )


def run_trainer_command(subcommand: str, arguments: list[str], progress: Progress) -> dict:
    """`python -m training <subcommand> <arguments>` in its own process (torch stays out of this
    one); its last stdout line (JSON) back. Exit 2 (the trainer refused the input) is a
    CurationError with the trainer's message; any other failure a RuntimeError (retried)."""
    command = [settings.FLYWHEEL_TRAIN_PYTHON, "-m", "training", subcommand, *arguments]
    process = subprocess.Popen(
        command, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        while True:
            # Heartbeats keep the job's lease while the trainer works (and let a cancel stop it).
            progress(0, None, Text("scoring (python -m training %(subcommand)s)", subcommand=subcommand))
            try:
                stdout, stderr = process.communicate(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode == 2:
        raise CurationError(stderr.strip().removeprefix("error: ")[-2000:] or Text("the trainer refused the input"))
    if process.returncode != 0:
        raise RuntimeError(
            f"python -m training {subcommand} failed (exit {process.returncode}): {stderr.strip()[-2000:]}"
        )
    last = stdout.strip().splitlines()[-1] if stdout.strip() else "{}"
    return json.loads(last)
