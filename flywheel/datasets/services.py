"""Writes of the dataset builder: asking for a build, and running one (the job's work)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from flywheel.accounts.services import audit_record
from flywheel.curation.necessity import (
    necessity_models,
    necessity_scores,
    necessity_scoring_request,
    necessity_seed_prompts,
)
from flywheel.curation.selectors import curation_ifd_scores_by_hash, curation_rewards_by_hash
from flywheel.curation.services import CurationError, curation_model_check
from flywheel.datasets.builder import build_samples
from flywheel.datasets.config import BuildConfig, build_config_from_dict
from flywheel.datasets.manifest import manifest_build
from flywheel.datasets.models import DatasetBuild, DatasetSample, DatasetVersion
from flywheel.datasets.replay import replay_path, replay_records_read
from flywheel.datasets.sources import sample_source_get, sample_sources
from flywheel.datasets.tokens import TokenCounter
from flywheel.i18n import Text, message_of, stored
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create
from flywheel.llm.embeddings import embed_texts
from flywheel.runs.conf import model_roots
from flywheel.runs.models import TrainingRun

logger = logging.getLogger(__name__)
INSERT_BATCH = 500
NAME_MAX = 120


class BuildError(ValueError):
    """A build that cannot produce a version; the message says why."""


class BuildWaiting(Exception):
    """The build needs scores a job is computing (the necessity stage): it goes on when woken."""


TOKENIZER_REFUSED = Text(
    "tokenizer: give a tokenizer or model directory inside the model directories "
    "(FLYWHEEL_MODEL_ROOTS) or the configured FLYWHEEL_DATASET_TOKENIZER"
)


def dataset_tokenizer_check(path: str) -> str:
    """The tokenizer directory a build may read (resolved, so a link changed later cannot
    redirect the job): inside the directories base models may come from, or the one the
    installation configured. Anything else gets one message, the same whether or not the path
    exists, so the form cannot be used to probe the disk."""
    configured = settings.FLYWHEEL_DATASET_TOKENIZER
    if configured and path == configured:
        return path
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a link loop
        raise BuildError(TOKENIZER_REFUSED) from exc
    roots = [root.resolve() for root in model_roots()]
    if not any(root in resolved.parents for root in roots):
        raise BuildError(TOKENIZER_REFUSED)
    if not (resolved / "tokenizer_config.json").is_file():
        raise BuildError(Text("tokenizer: %(path)s is not a directory with a Hugging Face tokenizer", path=path))
    return str(resolved)


def dataset_build_config_clean(data: dict) -> BuildConfig:
    """A validated build config, with the defaults that depend on this installation filled in
    (so that the stored config says exactly what was used)."""
    data = dict(data)
    if not data.get("tokenizer"):
        data["tokenizer"] = settings.FLYWHEEL_DATASET_TOKENIZER
    config = build_config_from_dict(data, known_sources=[s.name for s in sample_sources()])
    if config.replay_file:
        replay_path(config.replay_file)
    if config.tokenizer:
        config = dataclasses.replace(config, tokenizer=dataset_tokenizer_check(config.tokenizer))

    if config.necessity_run is not None and not config.necessity_reward_model:
        config = dataclasses.replace(config, necessity_reward_model=config.quality_model)
    for name in ("ifd_model", "quality_model", "necessity_reward_model"):
        if getattr(config, name):
            try:
                config = dataclasses.replace(config, **{name: curation_model_check(getattr(config, name))})
            except CurationError as exc:
                raise BuildError(Text("%(setting)s: %(error)s", setting=name, error=message_of(exc))) from exc
    if config.necessity_run is not None:
        if not TrainingRun.objects.filter(id=config.necessity_run).exists():
            raise BuildError(Text("necessity_run: no training run %(run)s", run=config.necessity_run))
    missing = set(config.exclude_versions) - set(
        DatasetVersion.objects.filter(id__in=config.exclude_versions).values_list("id", flat=True)
    )
    if missing:
        raise BuildError(
            Text("exclude_versions: no version %(versions)s", versions=", ".join(map(str, sorted(missing))))
        )
    return config


def dataset_build_request(*, config: dict, name: str = "", user=None, enqueue: bool = True) -> DatasetBuild:
    """Validate the config and queue a build job (or, with `enqueue=False`, leave the build for
    the caller to run in the foreground). ValueError: the config is wrong, nothing queued."""
    clean = dataset_build_config_clean(config)
    with transaction.atomic():
        build = DatasetBuild.objects.create(
            name=name.strip()[:NAME_MAX],
            config=clean.as_dict(),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        if enqueue:
            build.job = job_create(kind="datasets.build", payload={"build_id": build.id}, created_by=user)
            build.save(update_fields=["job"])
        audit_record(
            actor=user,
            action="dataset.build",
            target_type="dataset_build",
            target_id=build.id,
            detail={"name": build.name, "config": build.config},
        )
    return build


def _store_version(build: DatasetBuild, outcome, manifest: dict) -> tuple[DatasetVersion, bool]:
    """The version with this content hash, created with its samples in one transaction unless
    it exists already; (version, reused)."""
    existing = DatasetVersion.objects.filter(content_hash=outcome.content_hash).first()
    if existing is not None:
        return existing, True
    sft = [s for s in outcome.samples if s.kind == "sft"]
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.create(
                content_hash=outcome.content_hash,
                name=build.name,
                config=build.config,
                manifest=manifest,
                sample_count=len(outcome.samples),
                sft_count=len(sft),
                pair_count=len(outcome.samples) - len(sft),
                train_count=sum(1 for s in sft if s.split == "train"),
                eval_count=sum(1 for s in sft if s.split == "eval"),
                token_total=sum(s.token_count for s in outcome.samples),
                created_by=build.created_by,
            )
            rows = [
                DatasetSample(
                    version=version,
                    position=position,
                    split=s.split,
                    kind=s.kind,
                    sample_hash=s.sample_hash,
                    task_type=s.task_type[:64],
                    source=s.source[:32],
                    weight=s.weight,
                    pseudo_multi_turn=s.pseudo_multi_turn,
                    reviewed=s.reviewed,
                    token_count=s.token_count,
                    session_id=s.session_id,
                    record=s.record,
                    lineage={**s.lineage, "versions": s.versions},
                )
                for position, s in enumerate(outcome.samples)
            ]
            DatasetSample.objects.bulk_create(rows, batch_size=INSERT_BATCH)
    except IntegrityError:  # the same version was built concurrently
        return DatasetVersion.objects.get(content_hash=outcome.content_hash), True
    return version, False


def dataset_build_run(*, build_id: int, progress: Progress = progress_ignored) -> dict:
    """Build the version a build asks for. Idempotent: a finished build returns its report, and
    a re-run after a lost worker builds the same content hash, so it finds or makes one version."""
    build = DatasetBuild.objects.get(id=build_id)
    if build.status == DatasetBuild.Status.SUCCEEDED:
        return build.report
    DatasetBuild.objects.filter(id=build.id).update(status=DatasetBuild.Status.RUNNING, error="")
    try:
        report = _build(build, progress)
    except BuildWaiting as exc:
        DatasetBuild.objects.filter(id=build.id).update(
            status=DatasetBuild.Status.QUEUED, error=stored(exc, limit=5000)
        )
        raise
    except Exception as exc:
        DatasetBuild.objects.filter(id=build.id).update(
            status=DatasetBuild.Status.FAILED, error=stored(exc, limit=5000), finished_at=timezone.now()
        )
        raise
    return report


def _ifd_scores(config) -> tuple[dict | None, str]:
    if not config.ifd_model:
        return None, ""

    try:
        fingerprint, scores = curation_ifd_scores_by_hash(model=config.ifd_model)
    except CurationError as exc:
        raise BuildError(Text("%(setting)s: %(error)s", setting="ifd_model", error=message_of(exc))) from exc
    if not scores:
        raise BuildError(
            Text(
                "ifd_model: no IFD scores from %(model)s yet; score a version with it first (the version's IFD page)",
                model=config.ifd_model,
            )
        )
    return scores, fingerprint


def _rewards(config) -> tuple[dict | None, str]:
    if not config.quality_model:
        return None, ""

    try:
        fingerprint, rewards = curation_rewards_by_hash(model=config.quality_model)
    except CurationError as exc:
        raise BuildError(Text("%(setting)s: %(error)s", setting="quality_model", error=message_of(exc))) from exc
    if not rewards:
        raise BuildError(
            Text(
                "quality_model: no rewards from %(model)s yet; score a version with it first",
                model=config.quality_model,
            )
        )
    return rewards, fingerprint


def _necessity(config):
    """(seed prompt hashes, a lookup of stored scores) and the models, for a necessity build."""
    if config.necessity_run is None:
        return None, None
    try:
        models = necessity_models(run_id=config.necessity_run, reward_model=config.necessity_reward_model)
    except CurationError as exc:
        raise BuildError(message_of(exc)) from exc
    seed = necessity_seed_prompts(run_id=config.necessity_run)
    if not seed:
        raise BuildError(
            Text("necessity_run: run %(run)s's dataset version holds no SFT conversation", run=config.necessity_run)
        )
    return (seed, lambda hashes: necessity_scores(prompt_hashes=hashes, models=models)), models


def _embed(texts: list[str]):
    return embed_texts(texts, max_chars=2000)


def _build(build: DatasetBuild, progress: Progress) -> dict:
    config = build_config_from_dict(build.config, known_sources=[s.name for s in sample_sources(available_only=False)])
    candidates = []
    for name in config.sources:
        source = sample_source_get(name)
        if not source.available():
            raise BuildError(Text("the sample source %(name)r is not available in this installation", name=name))
        candidates.extend(source.candidates(config=config, progress=progress))
        progress(
            len(candidates), None, Text("%(source)s: %(count)s candidates so far", source=name, count=len(candidates))
        )
    seen = set(
        DatasetSample.objects.filter(version_id__in=config.exclude_versions).values_list("sample_hash", flat=True)
    )
    replay_records, replay_file = replay_records_read(config.replay_file) if config.replay_file else (None, None)
    counter = TokenCounter(config.tokenizer)
    ifd_scores, ifd_model_version = _ifd_scores(config)
    rewards, reward_model_version = _rewards(config)
    necessity, necessity_models = _necessity(config)
    progress(len(candidates), None, Text("curating, mixing, splitting and counting tokens"))
    try:
        outcome = build_samples(
            candidates,
            config,
            seen_hashes=seen,
            replay_records=replay_records,
            count_tokens=lambda sample: counter.record(sample.kind, sample.record),
            ifd_scores=ifd_scores,
            embed=_embed if config.diversity else None,
            rewards=rewards,
            necessity=necessity,
        )
    except ValueError as exc:  # k larger than the conversations left, and the like
        raise BuildError(message_of(exc)) from exc
    if outcome.necessity_missing:
        job = necessity_scoring_request(
            prompts=outcome.necessity_missing, models=necessity_models, wake_job_id=build.job_id, user=build.created_by
        )
        raise BuildWaiting(
            Text(
                "necessity: the seed model's answers to %(count)s prompts are being scored (job %(job)s, gpu queue); "
                "the build goes on when they are",
                count=len(outcome.necessity_missing),
                job=job.id,
            )
        )
    if "necessity" in outcome.curation:
        outcome.curation["necessity"].update(
            seed_model=necessity_models.seed_model,
            seed_model_version=necessity_models.seed_model_version,
            reward_model_version=necessity_models.reward_model_version,
        )
    if "quality" in outcome.curation:
        outcome.curation["quality"]["model_version"] = reward_model_version
    if "ifd" in outcome.curation:
        outcome.curation["ifd"]["model_version"] = ifd_model_version
    if "diversity" in outcome.curation:
        outcome.curation["diversity"]["embedding_model"] = settings.FLYWHEEL_EMBEDDING_MODEL
    if not outcome.samples:
        excluded = ", ".join(f"{reason}: {n}" for reason, n in sorted(outcome.excluded.items()))
        raise BuildError(
            Text(
                "no sample is left to put in a version (%(count)s candidates; left out: %(excluded)s)",
                count=len(candidates),
                excluded=excluded or Text("no candidates"),
            )
        )
    manifest = manifest_build(outcome, config=config.as_dict(), token_method=counter.method, replay_file=replay_file)
    progress(len(candidates), None, Text("storing %(count)s samples", count=len(outcome.samples)))
    version, reused = _store_version(build, outcome, manifest)
    report = {
        "version_id": version.id,
        "content_hash": version.content_hash,
        "samples": version.sample_count,
        "reused": reused,
        "candidates": len(candidates),
        "excluded": manifest["excluded"],
    }
    DatasetBuild.objects.filter(id=build.id).update(
        status=DatasetBuild.Status.SUCCEEDED, version=version, reused=reused, report=report, finished_at=timezone.now()
    )
    logger.info(
        "dataset build %s: version %s (%s samples, reused=%s)", build.id, version.id, version.sample_count, reused
    )
    return report
