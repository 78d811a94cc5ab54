"""A build's `tokenizer` is read by the build job, so it is refused at validation time unless it
lies inside the model directories (FLYWHEEL_MODEL_ROOTS), with one message that does not tell
whether the path exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from flywheel.datasets.models import DatasetBuild
from flywheel.datasets.services import TOKENIZER_REFUSED, BuildError, dataset_build_request
from flywheel.jobs.models import Job

FORM = {
    "sources": ["sessions"],
    "cleaning_statuses": ["kept"],
    "continuity": "split",
    "supervision": "all",
    "pseudo_multi_turn_share": "0",
    "replay_share": "0",
    "eval_fraction": "0.1",
    "seed": "0",
}


def fake_tokenizer(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer_config.json").write_text("{}")
    return directory


def models_root() -> Path:
    return Path(django_settings.VAR_DIR) / "models"  # the default FLYWHEEL_MODEL_ROOTS


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["missing", "a directory", "a real tokenizer outside", "a file"])
def test_a_tokenizer_outside_the_model_directories_gets_one_message_and_nothing_is_queued(tmp_path, kind):
    path = {
        "missing": tmp_path / "no-such-dir",
        "a directory": tmp_path,
        "a real tokenizer outside": fake_tokenizer(tmp_path / "tok"),
        "a file": Path("/etc/passwd"),
    }[kind]
    with pytest.raises(BuildError) as refused:
        dataset_build_request(config={"sources": ["sessions"], "tokenizer": str(path)}, name="probe")
    assert str(refused.value) == str(TOKENIZER_REFUSED) and str(path) not in str(refused.value)
    assert not DatasetBuild.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db
def test_a_path_climbing_out_of_the_model_directories_is_refused(tmp_path):
    target = fake_tokenizer(tmp_path / "outside")
    models_root().mkdir(parents=True, exist_ok=True)
    climbing = models_root() / os.path.relpath(target, models_root())  # models/../../…/outside
    assert str(climbing).startswith(str(models_root())) and climbing.resolve() == target.resolve()
    with pytest.raises(BuildError, match="inside the model directories"):
        dataset_build_request(config={"sources": ["sessions"], "tokenizer": str(climbing)}, name="probe")


@pytest.mark.django_db
def test_a_link_inside_the_model_directories_to_a_tokenizer_outside_is_refused(tmp_path):
    target = fake_tokenizer(tmp_path / "outside")
    link = models_root() / "linked-out"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
    try:
        with pytest.raises(BuildError, match="inside the model directories"):
            dataset_build_request(config={"sources": ["sessions"], "tokenizer": str(link)}, name="probe")
    finally:
        link.unlink()


@pytest.mark.django_db
def test_a_tokenizer_inside_the_model_directories_is_accepted_and_stored_resolved():
    tokenizer = fake_tokenizer(models_root() / "tok-ok")
    build = dataset_build_request(
        config={"sources": ["sessions"], "tokenizer": str(tokenizer / ".." / "tok-ok")}, name="ok", enqueue=False
    )
    assert build.config["tokenizer"] == str(tokenizer.resolve())


def test_the_build_form_shows_the_refusal_and_queues_nothing(engineer_client):
    response = engineer_client.post("/datasets/new/", {**FORM, "tokenizer": "/etc"})
    assert response.status_code == 200 and "inside the model directories" in response.content.decode()
    assert not DatasetBuild.objects.exists() and not Job.objects.exists()
