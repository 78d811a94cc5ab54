"""What lives in the browser: the navigation on a 390 px phone, the error pages, the sessions
list's search and filters, and the API keys page."""

from __future__ import annotations

import pytest

from tests.factories import session_with_turns

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _overflow(page) -> dict:
    """How far the page and the navigation's links reach past the viewport's right edge."""
    return page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth - window.innerWidth,
            links: Math.max(...[...document.querySelectorAll('.topbar a, .topbar button')]
                .map(e => e.getBoundingClientRect().right - window.innerWidth)),
        })"""
    )


@pytest.mark.parametrize("role", ["engineer", "admin"])
def test_the_navigation_wraps_on_a_390px_phone(page, log_in, make_user, role):
    page.set_viewport_size(PHONE)
    log_in(page, make_user(role))
    for path in ["/dashboard/", "/sessions/", "/imports/", "/jobs/", "/review/queues/", "/accounts/api-keys/"]:
        page.goto(path)
        reach = _overflow(page)
        assert reach["page"] <= 0 and reach["links"] <= 0, f"{path} overflows a 390 px screen: {reach}"
        assert page.get_by_role("link", name="Jobs").is_visible()
        assert page.get_by_role("button", name="Log out").is_visible()
    assert page.problems == []


def test_a_refused_page_shows_the_reason_and_the_navigation(page, log_in, annotator):
    log_in(page, annotator)
    response = page.goto("/sessions/")
    assert response.status == 403
    assert "Your role does not give access" in page.locator("#error-reason").inner_text()
    page.get_by_role("link", name="Review").click()
    page.wait_for_url("**/review/**")


def test_searching_the_sessions_list_in_chinese_and_filtering(page, log_in, engineer):
    session_with_turns([("user", "北京明天的天气怎么样？")], external_id="zh-weather", app="shop")
    session_with_turns([("user", "How is the weather in Beijing?")], external_id="en-weather", app="shop")
    session_with_turns([("user", "北京烤鸭哪里好吃？")], external_id="zh-food", app="help")
    log_in(page, engineer)
    page.goto("/sessions/")
    page.get_by_role("searchbox").fill("北京")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/sessions/?q=*")
    assert page.locator("table.session-table tbody tr").count() == 2
    assert "北京明天的天气怎么样" in page.locator("table.session-table").inner_text()
    page.get_by_placeholder("App").fill("shop")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**app=shop*")
    rows = page.locator("table.session-table tbody tr")
    assert rows.count() == 1 and "zh-weather" in rows.inner_text()
    assert page.get_by_role("searchbox").input_value() == "北京", "the form keeps what was asked"
    assert page.problems == []


def test_an_engineer_creates_copies_and_revokes_a_key(page, log_in, engineer):
    from flywheel.accounts.models import ApiKey

    log_in(page, engineer)
    page.get_by_role("link", name="API keys").click()
    page.get_by_placeholder("What is it for?", exact=False).fill("shop shipper")
    page.get_by_role("button", name="Create a key").click()
    raw = page.locator("#new-key-value").input_value()
    assert raw.startswith("fw_") and ApiKey.objects.get().prefix == raw[:10]
    page.goto("/accounts/api-keys/")  # opened again: the key is gone for good
    assert page.locator("#new-key-value").count() == 0 and raw not in page.content()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Revoke").click()
    assert ApiKey.objects.get().revoked_at is None, "cancelling the question revokes nothing"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_selector("text=is revoked")
    assert ApiKey.objects.get().revoked_at is not None
    assert page.problems == []
