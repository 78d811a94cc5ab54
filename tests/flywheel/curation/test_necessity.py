"""MoDS's necessity stage end to end, on CPU with the tiny test models: a seed version and a run on
it; a build with `necessity_run` queues the scoring job on the gpu queue and waits; the job lets the
seed model answer the other prompts (`training generate`) and the reward model score them
(`training reward`), then wakes the build, which keeps the seed and adds the prompts answered badly;
the manifest says so."""

from __future__ import annotations

import pytest

from flywheel.curation.models import NecessityScore
from flywheel.curation.necessity import necessity_prompt, necessity_prompt_hash
from flywheel.datasets.models import DatasetBuild, DatasetVersion
from flywheel.datasets.services import BuildError, dataset_build_request
from flywheel.jobs.models import Job
from flywheel.jobs.services import job_execute

pytestmark = pytest.mark.django_db

QUESTIONS = [
    ("How do I reverse a list in Python?", "Use items.reverse() or reversed(items)."),
    ("What is the capital of Australia?", "Canberra."),
    ("How long should I boil an egg?", "About six minutes for a runny yolk."),
    ("Translate 'good morning' into French.", "Bonjour."),
    ("What is 17 times 23?", "391."),
    ("Why is the sky blue?", "Air scatters blue light more than red."),
]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    from training.tiny_model import make_tiny_model

    root = tmp_path_factory.mktemp("necessity-models")
    seed_model = make_tiny_model(root / "seed", template="chatml")
    reward = root / "reward"
    LlamaForSequenceClassification.from_pretrained(seed_model, num_labels=1).save_pretrained(reward)
    AutoTokenizer.from_pretrained(seed_model).save_pretrained(reward)
    return root, seed_model, reward


@pytest.fixture
def world(tiny_models, settings, tmp_path):
    from flywheel.pipeline.services import pipeline_run
    from flywheel.runs.models import TrainingRun
    from tests.factories import session_with_turns

    root, seed_model, reward = tiny_models
    settings.FLYWHEEL_MODEL_ROOTS = [root]
    settings.VAR_DIR = tmp_path
    settings.FLYWHEEL_TASK_MODE = "sync"
    for index, (question, answer) in enumerate(QUESTIONS):
        session_with_turns([("user", question), ("assistant", answer)], external_id=f"necessity-{index}")
    pipeline_run(only={"cleaning"})
    seed_build = dataset_build_request(config={"sources": ["sessions"], "max_samples": 2}, enqueue=False)
    from flywheel.datasets.services import dataset_build_run

    seed_version = DatasetVersion.objects.get(id=dataset_build_run(build_id=seed_build.id)["version_id"])
    run = TrainingRun.objects.create(
        dataset_version=seed_version,
        base_model_path=str(seed_model),
        status="succeeded",
        result={"final_model": str(seed_model)},
    )
    return {"run": run, "seed_version": seed_version, "reward": str(reward)}


def prompts_of(version) -> set[str]:
    return {
        necessity_prompt_hash(necessity_prompt(sample.record["messages"]))
        for sample in version.samples.filter(kind="sft")
    }


def build(world, django_capture_on_commit_callbacks, necessity_max: float) -> DatasetBuild:
    config = {
        "sources": ["sessions"],
        "necessity_run": world["run"].id,
        "necessity_reward_model": world["reward"],
        "necessity_max": necessity_max,
    }
    with django_capture_on_commit_callbacks(execute=False):
        return dataset_build_request(config=config, name="necessary")


def test_the_build_has_the_prompts_scored_waits_and_adds_those_the_seed_model_answers_badly(
    world, django_capture_on_commit_callbacks
):
    first = build(world, django_capture_on_commit_callbacks, necessity_max=0.0)
    with django_capture_on_commit_callbacks(execute=False):
        assert job_execute(job_id=first.job_id).status == "retry"
    first.refresh_from_db()
    # Waiting, not failed: the build is back in the queue and says for what.
    assert first.status == DatasetBuild.Status.QUEUED and "are being scored" in first.error
    assert Job.objects.get(id=first.job_id).status == Job.Status.QUEUED
    scoring = Job.objects.get(kind="curation.necessity")
    assert scoring.queue == "gpu" and scoring.payload["wake_job_id"] == first.job_id

    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert job_execute(job_id=scoring.id).status == "succeeded"
    assert woken, "the scoring job wakes the build"
    # The four prompts outside the seed, each answered by the seed model and scored once.
    scores = dict(NecessityScore.objects.values_list("prompt_hash", "reward"))
    seed = prompts_of(world["seed_version"])
    assert len(scores) == len(QUESTIONS) - 2 and not set(scores) & seed
    assert all(isinstance(value, float) for value in scores.values())
    assert all(answer for answer in NecessityScore.objects.values_list("answer", flat=True))

    # Scored again by a rerun of the job (a killed worker): nothing is paid twice.
    Job.objects.filter(id=scoring.id).update(status=Job.Status.QUEUED)
    with django_capture_on_commit_callbacks(execute=False):
        job_execute(job_id=scoring.id)
    assert Job.objects.get(id=scoring.id).result["scored_now"] == 0

    with django_capture_on_commit_callbacks(execute=False):
        assert job_execute(job_id=first.job_id).status == "succeeded"
    first.refresh_from_db()
    assert first.status == DatasetBuild.Status.SUCCEEDED

    # Now with a threshold between the stored rewards: the seed plus the prompts below it.
    threshold = sorted(scores.values())[len(scores) // 2]
    second = build(world, django_capture_on_commit_callbacks, necessity_max=threshold)
    with django_capture_on_commit_callbacks(execute=False):
        assert job_execute(job_id=second.job_id).status == "succeeded"
    second.refresh_from_db()
    version = second.version
    badly = {prompt for prompt, reward in scores.items() if reward < threshold}
    assert prompts_of(version) == seed | badly and 0 < len(badly) < len(scores)
    necessity = version.manifest["curation"]["necessity"]
    assert necessity["run"] == world["run"].id and necessity["max"] == threshold
    assert necessity["seed"] == 2 and necessity["added"] == len(badly)
    assert necessity["removed"] == len(scores) - len(badly) and necessity["unscored"] == 0
    assert necessity["seed_model_version"] and necessity["reward_model_version"]
    assert version.manifest["excluded"]["necessity_answered_well"] == len(scores) - len(badly)
    assert Job.objects.filter(kind="curation.necessity").count() == 1  # every score was there


def test_necessity_settings_are_checked_before_anything_is_queued(world):
    with pytest.raises(ValueError, match="necessity_run needs necessity_max"):
        dataset_build_request(config={"sources": ["sessions"], "necessity_run": world["run"].id}, enqueue=False)
    with pytest.raises(BuildError, match="no training run 999"):
        dataset_build_request(
            config={
                "sources": ["sessions"],
                "necessity_run": 999,
                "necessity_max": 0,
                "necessity_reward_model": world["reward"],
            },
            enqueue=False,
        )
    with pytest.raises(ValueError, match="need necessity_run"):
        dataset_build_request(config={"sources": ["sessions"], "necessity_max": 1.0}, enqueue=False)
