"""Dataset pages: the list, the build form, a version with its manifest, samples and lineage,
the streamed export, the diff; and a build run as a job by a real worker."""

from __future__ import annotations

import json

import pytest

from flywheel.datasets.models import DatasetBuild, DatasetSample
from tests.support.waiting import wait_for


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


@pytest.mark.django_db
def test_the_version_page_shows_the_counts_per_task_type_and_the_token_statistics(
    logged_world, build_version, engineer_client
):
    version = build_version(name="support v1")
    page = engineer_client.get(f"/datasets/{version.id}/").content.decode()
    assert version.content_hash in page and "support v1" in page
    assert 'id="task-type-counts"' in page and "math" in page
    assert "approx-v1" in page  # how tokens were counted


@pytest.mark.django_db
def test_the_export_streams_one_line_per_sample_of_the_split(logged_world, build_version, engineer_client):
    version = build_version()
    response = engineer_client.get(f"/datasets/{version.id}/export/?format=openai&split=train")
    assert response.streaming and "attachment" in response["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert len(rows) == version.train_count and all("messages" in row for row in rows)


@pytest.mark.django_db
def test_an_unknown_export_format_is_a_not_found(logged_world, build_version, engineer_client):
    version = build_version()
    assert engineer_client.get(f"/datasets/{version.id}/export/?format=csv").status_code == 404


@pytest.mark.django_db
def test_the_sample_page_links_back_to_the_session_it_came_from(logged_world, build_version, engineer_client):
    version = build_version()
    sample = DatasetSample.objects.get(version=version, session_id=logged_world["rewritten"].id)
    page = engineer_client.get(f"/datasets/{version.id}/samples/{sample.position}/").content.decode()
    assert "/sessions/rewritten/" in page and "366 days: February has 29." in page


@pytest.mark.django_db
def test_the_session_page_lists_the_versions_that_hold_it(logged_world, build_version, engineer_client):
    version = build_version(name="holder")
    page = engineer_client.get("/sessions/rewritten/").content.decode()
    assert f"/datasets/{version.id}/" in page


@pytest.mark.django_db
def test_the_diff_page_compares_two_versions(logged_world, build_version, engineer_client):
    old = build_version(sources=["sessions"])
    new = build_version(sources=["sessions", "ingest_pairs"])
    page = engineer_client.get(f"/datasets/{new.id}/diff/?against={old.id}").content.decode()
    assert 'id="diff-added">1<' in page and 'id="diff-removed">0<' in page


@pytest.mark.django_db
def test_the_build_form_queues_a_build_and_follows_it(logged_world, engineer_client):
    response = engineer_client.post(
        "/datasets/new/",
        {
            "name": "from the form",
            "sources": ["sessions"],
            "cleaning_statuses": ["kept"],
            "include_unlabeled": "on",
            "usable_only": "on",
            "continuity": "split",
            "supervision": "all",
            "mix": "math=2, qa=0.5",
            "pseudo_multi_turn_share": "0.1",
            "replay_share": "0",
            "eval_fraction": "0.1",
            "seed": "3",
        },
    )
    build = DatasetBuild.objects.get()
    assert response.status_code == 302 and response.url == f"/datasets/builds/{build.id}/"
    assert build.job is not None and build.job.kind == "datasets.build"
    assert build.config["mix"] == {"math": 2.0, "qa": 0.5} and build.config["seed"] == 3


@pytest.mark.django_db
def test_a_wrong_build_setting_is_explained_and_nothing_is_queued(logged_world, engineer_client):
    response = engineer_client.post(
        "/datasets/new/",
        {
            "sources": ["sessions"],
            "cleaning_statuses": ["kept"],
            "continuity": "split",
            "supervision": "all",
            "mix": "math",
            "pseudo_multi_turn_share": "0",
            "replay_share": "0",
            "eval_fraction": "0.1",
            "seed": "0",
        },
    )
    assert response.status_code == 200
    assert "write each entry as task_type=weight" in response.content.decode()
    assert not DatasetBuild.objects.exists()


@pytest.mark.worker
def test_a_build_runs_as_a_job_on_a_worker_and_ends_in_a_version(logged_world, start_worker, engineer):
    from flywheel.datasets.services import dataset_build_request
    from flywheel.jobs.models import Job

    start_worker(queues="default", beat=False)
    build = dataset_build_request(config={"sources": ["sessions"]}, name="on a worker", user=engineer)
    job = wait_for(
        lambda: Job.objects.filter(id=build.job_id, status__in=Job.FINISHED).first(),
        timeout=120,
        what="the build job to finish",
    )
    build.refresh_from_db()
    assert job.status == "succeeded" and job.progress_note
    assert build.status == "succeeded" and job.result["version_id"] == build.version_id
    assert build.version.sample_count == job.result["samples"] > 0
