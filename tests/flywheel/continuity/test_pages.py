import pytest
from django.urls import reverse

from flywheel.continuity.services import continuity_run_pending
from tests.factories import session_with_turns

pytestmark = pytest.mark.django_db


@pytest.fixture
def predicted_session(db):
    from flywheel.cleaning.services import cleaning_run_pending

    session = session_with_turns(
        [
            ("user", "<script>alert(1)</script> what is 2+2?"),
            ("assistant", "4"),
            ("user", "and 3+3?"),
            ("assistant", "6"),
        ]
    )
    cleaning_run_pending()
    continuity_run_pending()
    return session


def test_engineers_see_the_active_model_and_its_held_out_report(client, engineer, predicted_session):
    client.force_login(engineer)
    page = client.get(reverse("continuity:index")).content.decode()
    assert "packaged default" in page and "char-bigram overlap" in page and "roc_auc" in page
    assert "crosswoz (zh)" in page and "recall_switch" in page and "zh 0." in page and "en 0." in page


def test_annotators_cannot_open_the_continuity_page(client, annotator):
    client.force_login(annotator)
    assert client.get(reverse("continuity:index")).status_code == 403


def test_the_session_page_shows_each_user_turns_probability(client, engineer, predicted_session):
    client.force_login(engineer)
    page = client.get(reverse("ingest:session_detail", args=[predicted_session.external_id])).content.decode()
    assert "P(continues)" in page and "<meter" in page and "<script>alert(1)</script>" not in page


@pytest.mark.browser
def test_the_continuity_page_has_no_csp_violations(page, log_in, engineer, predicted_session):
    log_in(page, engineer)
    page.goto(reverse("continuity:index"))
    page.wait_for_selector("#active-model")
    page.goto(reverse("ingest:session_detail", args=[predicted_session.external_id]))
    page.wait_for_selector(".continuity-turns")
    assert page.problems == []
