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


def test_the_labels_page_shows_the_offline_labelers_held_out_figures_beside_reviewer_agreement(
    client, engineer, labelled_session
):
    from flywheel.labeling.classifier import offline_report, task_type_model
    from flywheel.labeling.taxonomy import taxonomy

    report = offline_report(task_type_model(taxonomy()))["held_out"]
    client.force_login(engineer)
    page = client.get(reverse("labeling:index")).content.decode()
    assert page.index('id="agreement"') < page.index('id="offline-held-out"')
    assert f'<strong id="offline-accuracy">{report["accuracy"]:.3f}</strong>' in page
    assert 'id="offline-by-type"' in page and 'id="offline-confusion"' in page
    assert "Questions and knowledge" in page and "overstate" in page
    check = offline_report(task_type_model(taxonomy()))["check"]
    assert 'id="offline-check"' in page and f"{check['accuracy']:.3f}" in page
    assert page.count("<tr><th>") >= len(report["confusion"]["labels"])


def test_an_uncertain_offline_label_is_marked_on_the_session_page(client, engineer):
    session = session_with_turns([("user", "帮我看看这个"), ("assistant", "好的")])
    Label.objects.create(
        session=session,
        source="offline",
        prompt_version="offline-v2",
        model="offline:x",
        task_type="nlp",
        task_subtype="summarisation",
        quality=4,
        usable=True,
        confidence=0.42,
        uncertain=True,
    )
    client.force_login(engineer)
    page = client.get(reverse("ingest:session_detail", args=[session.external_id])).content.decode()
    assert 'data-testid="uncertain"' in page and "0.42" in page


@pytest.fixture
def tiny_custom_taxonomy(tmp_path, settings):
    """A custom taxonomy of six examples, fitted under a fresh var dir."""
    import json

    path = tmp_path / "taxonomy.json"
    types = {
        "refund": {"subtypes": {"other": ["I want my money back", "退款", "refund please"]}},
        "other": {"subtypes": {"other": ["hello", "你好", "what time do you open?"]}},
    }
    path.write_text(json.dumps(types), encoding="utf-8")
    settings.FLYWHEEL_LABEL_TAXONOMY = str(path)
    settings.VAR_DIR = tmp_path / "var"


def test_a_custom_taxonomy_warns_on_the_labels_page_how_little_it_learnt_from(client, engineer, tiny_custom_taxonomy):
    client.force_login(engineer)
    page = client.get(reverse("labeling:index")).content.decode()
    assert "custom taxonomy: the offline labeler learns from its" in page


def test_the_offline_labelers_warnings_read_in_the_readers_language_and_old_english_ones_still_show(
    client, engineer, tiny_custom_taxonomy, monkeypatch
):
    from django.conf import settings as live_settings

    from flywheel.labeling.classifier import task_type_model
    from flywheel.labeling.taxonomy import taxonomy

    client.force_login(engineer)
    client.cookies[live_settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(reverse("labeling:index")).content.decode()
    assert "自定义分类" in page and "custom taxonomy" not in page
    client.cookies[live_settings.LANGUAGE_COOKIE_NAME] = "en"
    assert (
        "custom taxonomy: the offline labeler learns from its" in client.get(reverse("labeling:index")).content.decode()
    )

    # Weights saved before warnings were stored as message ids hold plain English: shown as it is.
    monkeypatch.setitem(
        task_type_model(taxonomy()).meta, "warnings", ["an English warning written by an older version"]
    )
    client.cookies[live_settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "an English warning written by an older version" in client.get(reverse("labeling:index")).content.decode()
