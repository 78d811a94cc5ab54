"""Who may cancel and re-drive which jobs: the job kind's own roles decide, through the same
POSTs the job page sends (an engineer does not stop or re-run ops' training runs; ops do not
stop engineers' imports and constructions)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from flywheel.accounts.models import AuditEvent
from flywheel.accounts.roles import ENGINEERS, OPERATORS, Role
from flywheel.jobs.models import Job
from flywheel.jobs.registry import job_handler_register, job_kind_roles

# kind -> who may act on it (admins always may)
KINDS = {
    "runs.train": {"ops", "admin"},
    "ingest.import_file": {"engineer", "admin"},
    "construction.run": {"engineer", "admin"},
    "cleaning.rerun": {"engineer", "admin"},
    "labeling.label_batch": {"engineer", "admin"},
    "datasets.build": {"engineer", "ops", "admin"},  # ops build the versions they train on
}
ROLES = ["engineer", "ops", "admin"]
TABLE = [(kind, role, role in allowed) for kind, allowed in KINDS.items() for role in ROLES]


def reload(job: Job) -> Job:
    return Job.objects.get(id=job.id)


@pytest.fixture
def client_as(client, make_user):
    def log_in(role: str):
        client.force_login(make_user(role))
        return client

    return log_in


def test_training_runs_belong_to_ops_and_pipelines_to_engineers():
    assert job_kind_roles("runs.train") == OPERATORS
    for kind in (
        "ingest.import_file",
        "construction.run",
        "construction.synthesize",
        "cleaning.rerun",
        "labeling.label_batch",
        "continuity.train",
        "review.bulk_action",
        "pipeline.new_data",
    ):
        assert job_kind_roles(kind) == ENGINEERS, kind


def test_a_job_of_a_kind_nobody_handles_any_more_is_left_to_admins():
    assert job_kind_roles("gone.kind") == frozenset({Role.ADMIN})


def test_a_kind_can_name_its_own_roles(monkeypatch):
    from flywheel.jobs import registry

    monkeypatch.setattr(registry, "HANDLERS", registry.HANDLERS.copy())
    job_handler_register("tests.shared_kind", lambda ctx: {}, queue="default", roles={Role.ENGINEER, Role.OPS})
    assert job_kind_roles("tests.shared_kind") == frozenset({Role.ENGINEER, Role.OPS})


@pytest.mark.parametrize(("kind", "role", "allowed"), TABLE)
def test_cancelling_a_running_job_is_allowed_only_to_the_roles_of_its_kind(client_as, kind, role, allowed):
    job = Job.objects.create(kind=kind, status=Job.Status.RUNNING, payload={})
    response = client_as(role).post(reverse("jobs:cancel", args=[job.id]))
    if allowed:
        assert response.status_code == 302
        assert reload(job).cancel_requested is True
        assert AuditEvent.objects.filter(action="job.cancel", target_id=str(job.id)).count() == 1
    else:
        assert response.status_code == 403
        assert f"may cancel {kind} jobs" in response.content.decode()
        assert reload(job).cancel_requested is False and reload(job).status == Job.Status.RUNNING
        assert not AuditEvent.objects.filter(action="job.cancel").exists()


@pytest.mark.parametrize(("kind", "role", "allowed"), TABLE)
def test_re_driving_a_cancelled_job_is_allowed_only_to_the_roles_of_its_kind(client_as, kind, role, allowed):
    job = Job.objects.create(kind=kind, status=Job.Status.CANCELLED, payload={}, attempts=2)
    response = client_as(role).post(reverse("jobs:redrive", args=[job.id]))
    if allowed:
        assert response.status_code == 302
        assert reload(job).status == Job.Status.QUEUED and reload(job).attempts == 0
        assert AuditEvent.objects.filter(action="job.redrive", target_id=str(job.id)).count() == 1
    else:
        assert response.status_code == 403
        assert f"may re-drive {kind} jobs" in response.content.decode()
        assert reload(job).status == Job.Status.CANCELLED and reload(job).attempts == 2
        assert not AuditEvent.objects.filter(action="job.redrive").exists()


def test_an_engineer_cannot_cancel_and_re_run_an_ops_training_run(client_as):
    job = Job.objects.create(kind="runs.train", status=Job.Status.RUNNING, payload={"run_id": 1})
    client = client_as("engineer")
    cancel = client.post(reverse("jobs:cancel", args=[job.id]))
    assert cancel.status_code == 403 and "Only ops and admins may cancel runs.train jobs." in cancel.content.decode()
    Job.objects.filter(id=job.id).update(status=Job.Status.FAILED)
    assert client.post(reverse("jobs:redrive", args=[job.id])).status_code == 403
    assert reload(job).status == Job.Status.FAILED


def test_the_refusal_names_who_may_act(client_as):
    job = Job.objects.create(kind="ingest.import_file", status=Job.Status.QUEUED, payload={})
    page = client_as("ops").post(reverse("jobs:cancel", args=[job.id])).content.decode()
    assert "Only engineers and admins may cancel ingest.import_file jobs." in page


@pytest.mark.parametrize(("kind", "role", "allowed"), TABLE)
def test_the_job_page_shows_cancel_only_to_people_who_may_press_it(client_as, kind, role, allowed):
    job = Job.objects.create(kind=kind, status=Job.Status.RUNNING, payload={})
    page = client_as(role).get(reverse("jobs:detail", args=[job.id])).content.decode()
    assert (reverse("jobs:cancel", args=[job.id]) in page) is allowed
    assert ("may cancel or re-drive" in page) is not allowed


@pytest.mark.parametrize("role", ROLES)
def test_the_job_page_shows_re_drive_only_to_people_who_may_press_it(client_as, role):
    job = Job.objects.create(kind="runs.train", status=Job.Status.DEAD, payload={})
    page = client_as(role).get(reverse("jobs:detail", args=[job.id])).content.decode()
    assert (reverse("jobs:redrive", args=[job.id]) in page) is (role in KINDS["runs.train"])


def test_a_succeeded_job_offers_neither_button(client_as):
    job = Job.objects.create(kind="ingest.import_file", status=Job.Status.SUCCEEDED, payload={})
    page = client_as("engineer").get(reverse("jobs:detail", args=[job.id])).content.decode()
    assert reverse("jobs:cancel", args=[job.id]) not in page and reverse("jobs:redrive", args=[job.id]) not in page


def test_annotators_reach_no_job_control_at_all(client_as):
    job = Job.objects.create(kind="labeling.label_batch", status=Job.Status.RUNNING, payload={})
    client = client_as("annotator")
    assert client.post(reverse("jobs:cancel", args=[job.id])).status_code == 403
    assert client.post(reverse("jobs:redrive", args=[job.id])).status_code == 403
    assert reload(job).cancel_requested is False
