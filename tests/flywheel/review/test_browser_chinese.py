"""An annotator whose browser asks for Chinese works through the whole flow in Chinese: the
login page, the queues, the item page (fields, turn controls, keyboard help, loss preview), the
submission and the message after it. Their own choice in the switcher outlasts the browser's."""

from __future__ import annotations

import pytest

from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_enqueue
from tests.conftest import PASSWORD
from tests.factories import FeedbackFactory, session_with_turns

pytestmark = pytest.mark.browser

# English that must not be left on the pages an annotator sees in Chinese.
ENGLISH_CHROME = [
    "Log in to Flywheel",
    "My day",
    "Start",
    "Submit",
    "Skip",
    "Release",
    "Keyboard shortcuts",
    "Shortcuts",
    "Tokens that carry loss",
    "Train on this turn",
    "Edit this answer",
    "Task type",
    "acceptable",
    "1 unusable",
    "Log out",
]


@pytest.fixture
def chinese_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    page.problems = []
    page.on("console", lambda msg: page.problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))
    yield page
    context.close()


def flagged_item():
    session = session_with_turns(
        [
            ("user", "怎么把列表倒序？"),
            ("assistant", "用 reversed(items)。"),
            ("user", "那排序呢？"),
            ("assistant", "items.sort() 会返回排好序的列表。"),
        ]
    )
    answer = session.messages.get(seq=4)
    FeedbackFactory(message=answer, rating=-1, comment="sort() 返回 None")
    return review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        session_id=session.id,
        message_id=answer.id,
        payload={"comment": "sort() 返回 None"},
    )


def visible_text(page) -> str:
    return page.evaluate("() => document.body.innerText")


def assert_no_english_chrome(page):
    text = visible_text(page)
    left = [phrase for phrase in ENGLISH_CHROME if phrase in text]
    assert left == [], f"{page.url} still shows {left}"


def log_in(page, user):
    page.goto("/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("h1").inner_text() == "登录 Flywheel"
    assert_no_english_chrome(page)
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("networkidle")


def test_an_annotator_claims_and_submits_an_item_in_chinese(chinese_page, annotator):
    page = chinese_page
    item = flagged_item()
    log_in(page, annotator)
    assert page.url.endswith("/review/")
    assert page.locator("h1").inner_text() == "审核"
    assert "我的今日：0 / " in visible_text(page)
    assert page.locator("nav").get_by_text("标注员").count() == 1
    assert_no_english_chrome(page)

    page.get_by_role("button", name="开始").click()
    page.wait_for_url(f"**/review/items/{item.id}/")
    page.wait_for_selector("#loss-preview .tok-loss", timeout=60_000)  # the first preview loads the tokenizer
    text = visible_text(page)
    for chinese in (
        "被标记的回答是",
        "任务类型",
        "用此轮训练",
        "编辑此回答",
        "计入损失的 Token",
        "个 Token 中有",
        "提交",
        "跳过",
    ):
        assert chinese in text, chinese
    assert page.locator(f"#turn-{item.message_id} header").inner_text().startswith("#4 助手")
    assert_no_english_chrome(page)

    page.keyboard.press("?")  # the keyboard help
    help_text = page.locator("#help-overlay").inner_text()
    assert "键盘快捷键" in help_text and "跳过此条目" in help_text and "Esc" in help_text
    page.keyboard.press("Escape")
    # Scripts speak the page's language too (the JavaScript catalog).
    assert page.evaluate("() => gettext('Suggested for %(train)s training conversations: %(epochs)s.')").startswith(
        "按 %(train)s 条训练对话建议"
    )

    for key in ("1", "2", "4"):  # verdict: bad; task type: the second; quality: 4
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_url("**/review/")
    assert "中已经没有你可做的条目了" in page.locator(".flash").inner_text()
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DONE and item.final_decision["verdict"] == "bad"
    assert page.problems == []


def test_the_language_chosen_in_the_switcher_outlasts_the_browsers_at_the_next_login(chinese_page, annotator):
    page = chinese_page
    log_in(page, annotator)
    page.get_by_label("语言").select_option("en")  # submits itself
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.url.endswith("/review/") and page.locator("h1").inner_text() == "Review"

    page.get_by_role("button", name="Log out").click()
    page.context.clear_cookies()  # a fresh browser: only Accept-Language (zh-CN) speaks for the person
    page.goto("/accounts/login/")
    assert page.locator("h1").inner_text() == "登录 Flywheel"
    page.get_by_label("用户名").fill(annotator.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "My day" in visible_text(page)
    assert page.problems == []
