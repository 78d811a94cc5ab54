"""The cleaning report and rule editor in a real browser, under the strict CSP."""

from __future__ import annotations

import pytest

from flywheel.cleaning.models import RuleSetConfig
from flywheel.cleaning.services import cleaning_run_pending
from flywheel.jobs.models import Job
from tests.factories import session_with_turns

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_engineer_reads_the_report_turns_a_rule_off_and_reruns(page, log_in, engineer):
    session_with_turns(
        [
            ("user", "<img src=x onerror=alert(1)> 邮箱 bob@example.com"),
            ("assistant", "As an AI language model, I cannot."),
        ],
        app="shop",
    )
    cleaning_run_pending()
    log_in(page, engineer)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))

    page.goto("/cleaning/?app=shop")
    page.wait_for_function("document.querySelector('canvas[data-chart=hits-chart]').dataset.rendered === '1'")
    labels = page.evaluate("Chart.getChart(document.querySelector('canvas[data-chart=hits-chart]')).data.labels")
    assert set(labels) == {"boilerplate", "markup", "pii"}

    page.click("#edit-rules")
    page.uncheck("input[name='enabled:boilerplate']")
    page.click("#save-and-rerun")
    page.wait_for_selector("#rerun-jobs")
    assert RuleSetConfig.objects.get(app="shop").overrides["rules"] == {"boilerplate": {"enabled": False}}
    assert Job.objects.filter(kind="cleaning.rerun", payload={"app": "shop"}).exists()
    assert page.locator("#rerun-jobs .job-progress").count() == 1
    assert dialogs == [] and page.problems == []
