"""IFD scoring of a dataset version: the trainer in a subprocess, every figure stored per turn and
model, idempotent on rerun, bad input refused with a clear message; and the curation pages."""

from __future__ import annotations

import json
import shutil

import pytest

from flywheel.curation.models import TurnScore
from flywheel.curation.services import CurationError, curation_ifd_request, curation_ifd_run
from flywheel.datasets.models import DatasetSample, DatasetVersion

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}],
    [
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Sunny with a light breeze."},
    ],
    [
        {"role": "user", "content": "怎么用 Python 读取 CSV 文件？"},
        {"role": "assistant", "content": "可以用 csv 模块。"},
    ],
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from training.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", template="chatml")


@pytest.fixture
def model_dir(tiny_model, settings):
    settings.FLYWHEEL_MODEL_ROOTS = [tiny_model.parent]
    return str(tiny_model)


def make_version(name="v", conversations=CONVERSATIONS, hash_prefix="a"):
    version = DatasetVersion.objects.create(
        content_hash=(hash_prefix * 64)[:64], name=name, sample_count=len(conversations), sft_count=len(conversations)
    )
    for position, messages in enumerate(conversations):
        DatasetSample.objects.create(
            version=version,
            position=position,
            split="train",
            kind="sft",
            sample_hash=f"{hash_prefix}{position:063d}",
            task_type="qa" if position else "code",
            source="sessions",
            record={"messages": messages},
            lineage={"message_ids": list(range(100 * position, 100 * position + len(messages)))},
        )
    return version


@pytest.mark.django_db
def test_every_assistant_turn_gets_its_losses_and_ifd_and_a_rerun_changes_nothing(model_dir):
    version = make_version()
    first = curation_ifd_run(version_id=version.id, model=model_dir, batch_size=2)
    assert first["turns"] == 4 and first["unscored_turns"] == 0
    scores = list(TurnScore.objects.filter(version=version).order_by("sample__position", "turn"))
    assert len(scores) == 4
    assert all(s.value == pytest.approx(s.loss_cond / s.loss_direct) and s.tokens > 0 for s in scores)
    assert [s.message_id for s in scores] == [1, 101, 103, 201]
    assert len({s.model_version for s in scores}) == 1
    second = curation_ifd_run(version_id=version.id, model=model_dir)
    assert second["scored_now"] == 0 and TurnScore.objects.filter(version=version).count() == 4


@pytest.mark.django_db
def test_a_turn_that_does_not_fit_is_stored_as_null_and_counted(model_dir):
    version = make_version(
        conversations=[[{"role": "user", "content": "x " * 40}, {"role": "assistant", "content": "late reply"}]]
    )
    outcome = curation_ifd_run(version_id=version.id, model=model_dir, max_len=16)
    assert outcome["unscored_turns"] == 1
    score = TurnScore.objects.get(version=version)
    assert score.value is None and score.tokens == 0


@pytest.mark.django_db
def test_an_empty_version_is_a_clear_error(model_dir):
    version = make_version(conversations=[])
    with pytest.raises(CurationError, match="holds no SFT conversation"):
        curation_ifd_run(version_id=version.id, model=model_dir)


@pytest.mark.django_db
def test_a_model_outside_the_roots_is_refused(model_dir, tmp_path):
    version = make_version()
    with pytest.raises(CurationError, match="inside the model roots"):
        curation_ifd_request(version_id=version.id, model=str(tmp_path))


@pytest.mark.django_db
def test_a_model_without_a_chat_template_is_a_clear_error(model_dir, tiny_model):
    broken = tiny_model.parent / "no-template"
    if not broken.exists():
        shutil.copytree(tiny_model, broken)
        (broken / "chat_template.jinja").unlink(missing_ok=True)
        config = json.loads((broken / "tokenizer_config.json").read_text())
        config.pop("chat_template", None)
        (broken / "tokenizer_config.json").write_text(json.dumps(config))
    version = make_version()
    with pytest.raises(CurationError, match="no chat template"):
        curation_ifd_run(version_id=version.id, model=str(broken))


@pytest.mark.django_db
def test_the_ifd_page_queues_a_gpu_job_for_the_version(model_dir, client, engineer):
    from flywheel.jobs.models import Job

    client.force_login(engineer)
    version = make_version()
    response = client.post(
        f"/curation/versions/{version.id}/ifd/", {"model": model_dir, "batch_size": 4, "max_len": 512}
    )
    assert response.status_code == 302
    job = Job.objects.get(kind="curation.ifd")
    assert job.queue == "gpu" and job.payload["version_id"] == version.id


@pytest.mark.django_db
def test_the_diversity_page_shows_two_versions_side_by_side(client, engineer):
    client.force_login(engineer)
    first, second = make_version(name="first"), make_version(name="second", hash_prefix="b")
    page = client.get(f"/curation/versions/{first.id}/diversity/?compare={second.id}").content.decode()
    assert f'id="diversity-v{first.id}"' in page and f'id="diversity-v{second.id}"' in page
    assert "Coverage radius" in page and "code" in page
    assert f'data-chart="map-v{first.id}"' in page and '"type": "scatter"' in page
    version_page = client.get(f"/datasets/{first.id}/").content.decode()
    assert f"/curation/versions/{first.id}/diversity/" in version_page


@pytest.fixture(scope="module")
def reward_model(tiny_model):
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    path = tiny_model.parent / "reward"
    if not path.exists():
        LlamaForSequenceClassification.from_pretrained(tiny_model, num_labels=1).save_pretrained(path)
        AutoTokenizer.from_pretrained(tiny_model).save_pretrained(path)
    return path


@pytest.mark.django_db
def test_rewards_are_stored_on_the_last_turn_and_a_long_conversation_is_truncated_and_counted(model_dir, reward_model):
    from flywheel.curation.services import curation_reward_run

    long_one = [{"role": "user", "content": "long " * 400}, {"role": "assistant", "content": "short"}]
    version = make_version(conversations=[*CONVERSATIONS, long_one])
    outcome = curation_reward_run(version_id=version.id, model=str(reward_model), max_len=128)
    assert outcome["truncated"] == 1 and outcome["scored_now"] == 4
    rewards = TurnScore.objects.filter(version=version, metric="reward").order_by("sample__position")
    assert [r.message_index for r in rewards] == [1, 3, 1, 1] and all(r.value is not None for r in rewards)
    assert curation_reward_run(version_id=version.id, model=str(reward_model))["scored_now"] == 0


@pytest.mark.django_db
def test_the_reward_button_queues_the_reward_job_and_the_page_shows_the_scores(
    model_dir, reward_model, client, engineer, settings
):
    from flywheel.curation.services import curation_reward_run
    from flywheel.jobs.models import Job
    from flywheel.jobs.services import job_execute

    settings.FLYWHEEL_TASK_MODE = "sync"
    client.force_login(engineer)
    version = make_version()
    page = client.get(f"/curation/versions/{version.id}/ifd/").content.decode()
    assert 'id="reward-form"' in page and "No reward scores yet." in page
    response = client.post(
        f"/curation/versions/{version.id}/reward/",
        {"reward-model": str(reward_model), "reward-batch_size": 4, "reward-max_len": 512},
    )
    assert response.status_code == 302
    job = Job.objects.get(kind="curation.reward")
    assert job.queue == "gpu" and job.payload == {
        "version_id": version.id,
        "model": str(reward_model.resolve()),
        "batch_size": 4,
        "max_len": 512,
    }
    assert job_execute(job_id=job.id).status == "succeeded"
    assert curation_reward_run(version_id=version.id, model=str(reward_model))["scored_now"] == 0
    page = client.get(f"/curation/versions/{version.id}/ifd/").content.decode()
    table = page[page.index('id="reward-summary"') :]
    assert str(reward_model.resolve()) in table and "No reward scores yet." not in table


@pytest.mark.django_db
def test_only_engineers_queue_reward_scoring_and_a_model_outside_the_roots_is_refused(
    model_dir, reward_model, client, engineer, ops_user, annotator
):
    from flywheel.jobs.models import Job

    version = make_version()
    fields = {"reward-model": str(reward_model), "reward-batch_size": 4, "reward-max_len": 512}
    client.force_login(ops_user)
    assert 'id="reward-form"' not in client.get(f"/curation/versions/{version.id}/ifd/").content.decode()
    assert client.post(f"/curation/versions/{version.id}/reward/", fields).status_code == 403
    client.force_login(annotator)
    assert client.post(f"/curation/versions/{version.id}/reward/", fields).status_code == 403
    client.force_login(engineer)
    response = client.post(f"/curation/versions/{version.id}/reward/", {**fields, "reward-model": "/etc"})
    assert response.status_code == 200 and "inside the model roots" in response.content.decode()
    assert not Job.objects.filter(kind="curation.reward").exists()
