"""MoDS's necessity stage: which prompts does a model trained on the seed selection still answer
badly? Those are the data worth adding.

The flow, driven by the dataset builder's `necessity_*` settings:

1. A seed version is built (quality, then K-Center-Greedy) and a run trains on it: the seed model.
2. A build with `necessity_run` (that run), `necessity_reward_model` and `necessity_max` finds the
   prompts of its conversations outside the seed that have no necessity score yet, writes them to a
   file under the var directory (named by its content) and queues `curation.necessity` on the gpu
   queue; the build waits (its job back in the queue, not failed).
3. The scoring job lets the seed model answer those prompts (`python -m training generate`, shared
   with evaluation), scores each prompt and answer with the reward model (`python -m training
   reward`), stores every score, then wakes the build.
4. The build runs again, finds every score, and keeps the seed plus the prompts answered with a
   reward below `necessity_max` (then K-Center-Greedy over them, from the seed, with `diversity`).

Scores are keyed by the prompt's content and both models' versions: asked again, nothing is paid
twice; a killed job's rerun scores only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from flywheel.curation.models import NecessityScore
from flywheel.curation.services import CurationError, curation_model_check, model_fingerprint, run_trainer_command
from flywheel.datasets.models import DatasetSample
from flywheel.env import private_dir
from flywheel.i18n import Text
from flywheel.jobs.models import Job
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create, job_dispatch, job_redrive
from flywheel.runs.models import TrainingRun

MAX_NEW_TOKENS = 512
_KEY = re.compile(r"^[0-9a-f]{64}$")


def necessity_prompt(messages: list[dict]) -> list[dict] | None:
    """The conversation before its last assistant answer (roles and texts only): what the seed model
    is asked. None when no user turn comes before that answer."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None:
        return None
    prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:last]]
    return prompt if any(m["role"] == "user" for m in prompt) else None


def necessity_prompt_hash(prompt: list[dict]) -> str:
    canonical = json.dumps([[m["role"], m["content"]] for m in prompt], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NecessityModels:
    run_id: int
    seed_model: str
    seed_model_version: str
    reward_model: str
    reward_model_version: str


def necessity_models(*, run_id: int, reward_model: str) -> NecessityModels:
    """The seed run's final model and the reward model, checked (inside the model roots, with a
    tokenizer) and fingerprinted."""
    run = TrainingRun.objects.filter(id=run_id).first()
    if run is None:
        raise CurationError(Text("necessity_run: no training run %(run)s", run=run_id))
    final = (run.result or {}).get("final_model") or ""
    if not final:
        raise CurationError(
            Text("necessity_run: run %(run)s has no final model yet (status %(status)s)", run=run_id, status=run.status)
        )
    seed = curation_model_check(final)
    reward = curation_model_check(reward_model)
    return NecessityModels(
        run_id=run.id,
        seed_model=seed,
        seed_model_version=model_fingerprint(seed),
        reward_model=reward,
        reward_model_version=model_fingerprint(reward),
    )


def necessity_seed_prompts(*, run_id: int) -> set[str]:
    """The prompts the seed model was trained on: those of its run's version's SFT conversations."""
    version_id = TrainingRun.objects.filter(id=run_id).values_list("dataset_version_id", flat=True).first()
    records = DatasetSample.objects.filter(version_id=version_id, kind=DatasetSample.Kind.SFT).values_list(
        "record", flat=True
    )
    seeds = set()
    for record in records.iterator(chunk_size=500):
        prompt = necessity_prompt(record.get("messages", []))
        if prompt is not None:
            seeds.add(necessity_prompt_hash(prompt))
    return seeds


def necessity_scores(*, prompt_hashes, models: NecessityModels) -> dict[str, float | None]:
    """{prompt hash: reward of the seed model's answer} for those scored (None: scoring failed)."""
    rows = NecessityScore.objects.filter(
        prompt_hash__in=list(prompt_hashes),
        seed_model_version=models.seed_model_version,
        reward_model_version=models.reward_model_version,
    ).values_list("prompt_hash", "reward")
    return dict(rows)


def _prompts_dir() -> Path:
    path = Path(settings.VAR_DIR) / "cache" / "necessity"
    private_dir(path)
    return path


def necessity_scoring_request(
    *, prompts: dict[str, list[dict]], models: NecessityModels, wake_job_id: int | None = None, user=None
):
    """Queue the scoring of these prompts ({hash: prompt}) on the gpu queue; the same prompts and
    models while a job for them waits give that job. `wake_job_id`: a job to run again when done."""
    key = hashlib.sha256(
        json.dumps([models.seed_model_version, models.reward_model_version, sorted(prompts)]).encode()
    ).hexdigest()
    path = _prompts_dir() / f"{key}.jsonl"
    if not path.is_file():
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as out:
            for prompt_hash in sorted(prompts):
                out.write(json.dumps({"id": prompt_hash, "messages": prompts[prompt_hash]}, ensure_ascii=False) + "\n")
        Path(out.name).replace(path)
    active = Job.objects.filter(
        kind="curation.necessity", payload__prompts=key, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)
    ).first()
    if active is not None:
        return active
    return job_create(
        kind="curation.necessity",
        created_by=user,
        payload={
            "prompts": key,
            "run_id": models.run_id,
            "reward_model": models.reward_model,
            "wake_job_id": wake_job_id,
        },
        dedupe_key=f"curation.necessity:{key}",
        total=len(prompts),
    )


def necessity_scoring_run(
    *,
    prompts_key: str,
    run_id: int,
    reward_model: str,
    batch_size: int = 8,
    max_len: int = 2048,
    progress: Progress = progress_ignored,
) -> dict:
    """The seed model answers every prompt of the file not scored yet; the reward model scores each
    prompt with its answer; every score is stored (a failed one as NULL, counted)."""
    if not _KEY.match(prompts_key or ""):
        raise CurationError(Text("necessity: the prompts file key is not a content hash"))
    path = _prompts_dir() / f"{prompts_key}.jsonl"
    if not path.is_file():
        raise CurationError(Text("necessity: the prompts file is gone; build again to write it"))
    models = necessity_models(run_id=run_id, reward_model=reward_model)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    done = necessity_scores(prompt_hashes=[line["id"] for line in lines], models=models)
    todo = [line for line in lines if line["id"] not in done]
    report = {"prompts": len(lines), "already_scored": len(lines) - len(todo), "scored_now": len(todo)}
    if not todo:
        return report
    with tempfile.TemporaryDirectory(prefix="flywheel-necessity-") as directory:
        asked, answered = Path(directory) / "prompts.jsonl", Path(directory) / "answers.jsonl"
        pairs, rewards = Path(directory) / "pairs.jsonl", Path(directory) / "rewards.jsonl"
        asked.write_text(
            "".join(json.dumps({"messages": line["messages"]}, ensure_ascii=False) + "\n" for line in todo),
            encoding="utf-8",
        )
        progress(0, len(todo), Text("the seed model answers %(count)s prompts", count=len(todo)))
        run_trainer_command(
            "generate",
            ["--model", models.seed_model, "--data", str(asked), "--output", str(answered)]
            + ["--batch-size", str(batch_size), "--max-new-tokens", str(MAX_NEW_TOKENS)],
            progress,
        )
        answers = [json.loads(line) for line in answered.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(answers) != len(todo):
            raise RuntimeError(f"training generate wrote {len(answers)} answers for {len(todo)} prompts")
        pairs.write_text(
            "".join(
                json.dumps(
                    {"id": line["id"], "messages": line["messages"] + [{"role": "assistant", "content": a["answer"]}]},
                    ensure_ascii=False,
                )
                + "\n"
                for line, a in zip(todo, answers)
            ),
            encoding="utf-8",
        )
        progress(0, len(todo), Text("the reward model scores %(count)s answers", count=len(todo)))
        run_trainer_command(
            "reward",
            ["--model", models.reward_model, "--data", str(pairs), "--output", str(rewards)]
            + ["--batch-size", str(batch_size), "--max-len", str(max_len)],
            progress,
        )
        scored = {
            row["id"]: row
            for row in (json.loads(line) for line in rewards.read_text(encoding="utf-8").splitlines() if line.strip())
        }
    rows = [
        NecessityScore(
            prompt_hash=line["id"],
            seed_model=models.seed_model,
            seed_model_version=models.seed_model_version,
            reward_model=models.reward_model,
            reward_model_version=models.reward_model_version,
            answer=answer["answer"],
            reward=scored.get(line["id"], {}).get("reward"),
            tokens=scored.get(line["id"], {}).get("tokens") or 0,
            truncated=bool(scored.get(line["id"], {}).get("truncated")),
        )
        for line, answer in zip(todo, answers)
    ]
    with transaction.atomic():
        NecessityScore.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    report["unscored"] = sum(1 for row in rows if row.reward is None)
    report["truncated"] = sum(1 for row in rows if row.truncated)
    return report


def necessity_wake(*, job_id: int | None) -> None:
    """Run the waiting job (a build) again now: a queued one is sent at once, a finished-with-error
    one is re-driven with a fresh attempt budget."""
    if not job_id:
        return

    status = Job.objects.filter(id=job_id).values_list("status", flat=True).first()
    if status == Job.Status.QUEUED:
        transaction.on_commit(lambda: job_dispatch(job_id=job_id))
    elif status in (Job.Status.DEAD, Job.Status.FAILED):
        job_redrive(job_id=job_id)
