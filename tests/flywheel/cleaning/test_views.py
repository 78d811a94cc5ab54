"""The engineers' cleaning pages: the report, the rule editor, samples, PII, duplicates, re-run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from flywheel.cleaning.models import RuleSetConfig
from flywheel.jobs.models import Job
from tests.factories import session_with_turns

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


@pytest.fixture
def cleaned(clean):
    session_with_turns(
        [("user", "邮箱 bob@example.com"), ("assistant", "作为一个AI语言模型，我无法回答。")], app="shop"
    )
    session_with_turns([("user", "How do I reset my password?"), ("assistant", "Go to Settings.")], app="shop")
    session_with_turns([("user", "How do I reset my password?"), ("assistant", "Go to Settings.")], app="shop")
    session_with_turns([("user", "<script>alert(1)</script>"), ("assistant", "Scripts are shown as text.")], app="web")
    clean()


def test_the_report_shows_hits_per_rule_as_a_chart(engineer_client, cleaned):
    response = engineer_client.get(reverse("cleaning:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-chart="hits-chart"' in page and 'id="hits-chart"' in page
    assert response.context["hits"] == [("boilerplate", 1), ("markup", 1), ("pii", 1), ("duplicate", 1)]


def test_the_report_can_be_narrowed_to_one_app(engineer_client, cleaned):
    response = engineer_client.get(reverse("cleaning:index"), {"app": "web"})
    assert response.context["hits"] == [("markup", 1)]
    assert response.context["figures"]["cleaned"] == 1


def test_the_report_works_before_anything_was_cleaned(engineer_client):
    assert engineer_client.get(reverse("cleaning:index")).status_code == 200


def test_annotators_cannot_see_the_cleaning_pages(client, annotator):
    client.force_login(annotator)
    for name in ("cleaning:index", "cleaning:rules", "cleaning:pii", "cleaning:duplicates"):
        assert client.get(reverse(name)).status_code == 403


def test_samples_show_the_rows_a_rule_hit(engineer_client, cleaned):
    response = engineer_client.get(reverse("cleaning:samples", args=["markup"]))
    assert response.status_code == 200
    assert [row.rule for row in response.context["rows"]] == ["markup"]
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content and b"<script>alert(1)" not in response.content


def test_samples_of_an_unknown_rule_are_not_found(engineer_client):
    assert engineer_client.get(reverse("cleaning:samples", args=["nope"])).status_code == 404


def test_the_pii_page_shows_before_and_after(engineer_client, cleaned):
    page = engineer_client.get(reverse("cleaning:pii")).content.decode()
    assert "bob@example.com" in page and "&lt;EMAIL&gt;" in page


def test_the_duplicates_page_lists_clusters(engineer_client, cleaned):
    response = engineer_client.get(reverse("cleaning:duplicates"), {"scope": "session"})
    assert response.context["clusters"][0]["count"] == 1


def test_saving_the_rules_stores_only_what_differs_from_the_defaults(engineer_client):
    form = _default_form(engineer_client, app="shop")
    form["enabled:truncated"] = ""
    form["param:length:max_units"] = "500"
    form["param:sensitive_words:words"] = "加微信\ncheap pills\n"
    response = engineer_client.post(reverse("cleaning:rules") + "?app=shop", form)
    assert response.status_code == 302
    assert RuleSetConfig.objects.get(app="shop").overrides == {
        "rules": {
            "length": {"params": {"max_units": 500}},
            "truncated": {"enabled": False},
            "sensitive_words": {"params": {"words": ["加微信", "cheap pills"]}},
        }
    }


def test_a_bad_value_is_refused_and_the_form_keeps_what_was_typed(engineer_client):
    form = _default_form(engineer_client, app="shop")
    form["param:repetition:max_ratio"] = "lots"
    response = engineer_client.post(reverse("cleaning:rules") + "?app=shop", form)
    assert response.status_code == 200
    assert "repetition.max_ratio must be a number" in response.content.decode()
    assert 'value="lots"' in response.content.decode()
    assert not RuleSetConfig.objects.filter(app="shop").exists()


def test_save_and_rerun_queues_a_cleaning_job(engineer_client):
    form = _default_form(engineer_client, app="shop")
    form["rerun"] = "1"
    response = engineer_client.post(reverse("cleaning:rules") + "?app=shop", form)
    assert response.status_code == 302
    job = Job.objects.get(kind="cleaning.rerun")
    assert job.payload == {"app": "shop"}


def test_the_rerun_button_queues_one_job_however_often_it_is_pressed(engineer_client):
    for _ in range(3):
        engineer_client.post(reverse("cleaning:rerun"), {"app": "*"})
    assert Job.objects.filter(kind="cleaning.rerun").count() == 1


def test_the_session_page_shows_the_cleaning_panel(engineer_client, cleaned):
    from flywheel.ingest.models import ChatSession

    session = ChatSession.objects.filter(app="shop").order_by("id").first()
    page = engineer_client.get(reverse("ingest:session_detail", args=[session.external_id])).content.decode()
    assert 'data-testid="cleaning-status"' in page and "flagged" in page and "&lt;EMAIL&gt;" in page


def _default_form(client, *, app: str) -> dict:
    """The editor's fields as the browser would submit them untouched."""
    rows = client.get(reverse("cleaning:rules"), {"app": app}).context["rows"]
    form = {"app": app, "dedup_sessions": "on", "dedup_prompts": "on"}
    for row in rows:
        name = row["rule"].name
        if row["enabled"]:
            form[f"enabled:{name}"] = "on"
        form[f"action:{name}"] = row["action"]
        for param in row["params"]:
            if param["kind"] == "bool":
                if param["value"]:
                    form[param["field"]] = "on"
            else:
                form[param["field"]] = str(param["value"])
    return form
