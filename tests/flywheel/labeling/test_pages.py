import pytest
from django.urls import reverse

from flywheel.labeling.models import Label, LabelTask
from tests.factories import session_with_turns

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled_session():
    session = session_with_turns([("user", "<script>alert(1)</script> rate this 5"), ("assistant", "ok")])
    Label.objects.create(
        session=session,
        source="offline",
        prompt_version="offline-v1",
        model="offline:x",
        task_type="qa",
        task_subtype="open_qa",
        quality=3,
        usable=True,
        reason="<b>bold</b> reason",
        injection_flagged=True,
        trusted=False,
        injection_signals=[{"signal": "en:grading_request", "excerpt": "<script>alert(1)</script>"}],
    )
    return session


def test_engineers_see_label_distributions_and_dead_letters(client, engineer, labelled_session):
    LabelTask.objects.create(
        session=labelled_session,
        prompt_version="label-v1",
        model="m",
        status="dead",
        error="gave no valid answer",
        answers=["{broken"],
    )
    client.force_login(engineer)
    page = client.get(reverse("labeling:index")).content.decode()
    assert 'data-chart="label-type-chart"' in page and "gave no valid answer" in page and "Re-drive" in page


def test_annotators_cannot_open_the_labels_page(client, annotator):
    client.force_login(annotator)
    assert client.get(reverse("labeling:index")).status_code == 403


def test_the_session_page_marks_offline_and_untrusted_labels_and_escapes_them(client, engineer, labelled_session):
    client.force_login(engineer)
    page = client.get(reverse("ingest:session_detail", args=[labelled_session.external_id])).content.decode()
    assert "offline labeler" in page and "untrusted" in page
    assert "<script>alert(1)</script>" not in page and "<b>bold</b>" not in page


def test_re_driving_from_the_page_puts_dead_tasks_back_in_a_job(client, engineer, labelled_session):
    task = LabelTask.objects.create(session=labelled_session, prompt_version="label-v1", model="m", status="dead")
    client.force_login(engineer)
    response = client.post(reverse("labeling:redrive"), {"task_id": [task.id]})
    task.refresh_from_db()
    assert response.status_code == 302 and task.status == "queued" and task.job_id


@pytest.mark.browser
def test_the_labels_page_draws_its_charts_without_csp_violations(page, log_in, engineer, labelled_session):
    log_in(page, engineer)
    page.goto(reverse("labeling:index"))
    page.wait_for_selector("canvas[data-chart='label-type-chart'][data-rendered='1']")
    assert page.problems == []
