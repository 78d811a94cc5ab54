"""The page language: the browser's Accept-Language, unless the person chose one with the switcher
(saved on their profile, applied whenever they log in); dates and numbers follow it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.template import engines
from django.utils import translation

from flywheel.accounts.language import profile_language
from flywheel.accounts.models import Profile
from flywheel.review.services import review_item_claim_next, review_item_enqueue
from tests.conftest import PASSWORD
from tests.factories import session_with_turns

pytestmark = pytest.mark.django_db
COOKIE = settings.LANGUAGE_COOKIE_NAME


def log_in(client, user, **headers):
    return client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}, **headers)


def test_a_chinese_browser_gets_the_chinese_login_page(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "登录 Flywheel" in page and "用户名" in page and "Log in to Flywheel" not in page


@pytest.mark.parametrize("accept", ["", "en-US,en;q=0.9", "fr-FR,fr;q=0.9"])
def test_other_browsers_get_english(client, accept):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=accept).content.decode()
    assert '<html lang="en">' in page and "Log in to Flywheel" in page


def test_the_switcher_saves_the_choice_on_the_profile_and_returns_to_the_page(client, annotator):
    client.force_login(annotator)
    response = client.post("/accounts/language/", {"language": "zh-hans", "next": "/review/"})
    assert response.status_code == 302 and response["Location"] == "/review/"
    assert profile_language(user=annotator) == "zh-hans"
    assert response.cookies[COOKIE].value == "zh-hans"
    page = client.get("/review/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "我的今日" in page and "My day" not in page


def test_the_saved_language_is_applied_at_login_over_the_browsers(client, annotator):
    Profile.objects.create(user=annotator, language="zh-hans")
    response = log_in(client, annotator, HTTP_ACCEPT_LANGUAGE="en-US")
    assert response.cookies[COOKIE].value == "zh-hans"
    page = client.get("/review/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "我的今日" in page


def test_with_nothing_saved_login_forgets_the_last_persons_choice_and_follows_the_browser(client, annotator):
    client.cookies[COOKIE] = "zh-hans"  # left by whoever used this browser before
    response = log_in(client, annotator, HTTP_ACCEPT_LANGUAGE="en-US")
    assert response.cookies[COOKIE].value == ""  # deleted
    del client.cookies[COOKIE]
    assert "My day" in client.get("/review/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()


def test_an_unknown_language_is_refused_and_nothing_is_saved(client, annotator):
    client.force_login(annotator)
    response = client.post("/accounts/language/", {"language": "klingon", "next": "/review/"})
    assert response.status_code == 400 and COOKIE not in response.cookies
    assert profile_language(user=annotator) == ""


def test_someone_logged_out_can_switch_for_this_browser_only(client):
    response = client.post("/accounts/language/", {"language": "zh-hans", "next": "/accounts/login/"})
    assert response.status_code == 302 and response.cookies[COOKIE].value == "zh-hans"
    assert Profile.objects.count() == 0
    assert "登录 Flywheel" in client.get("/accounts/login/").content.decode()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_the_switcher_never_sends_anyone_off_the_site(client, annotator, target):
    client.force_login(annotator)
    response = client.post("/accounts/language/", {"language": "en", "next": target})
    assert response["Location"] == "/"


def claimed_item(annotator):
    session = session_with_turns([("user", "Hi"), ("assistant", "Hello")])
    answer = session.messages.get(seq=2)
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        session_id=session.id,
        message_id=answer.id,
        payload={},
    )
    review_item_claim_next(queue=item.queue, user=annotator)
    return item


def test_messages_reach_the_person_in_their_language(client, annotator):
    item = claimed_item(annotator)
    client.force_login(annotator)
    client.cookies[COOKIE] = "zh-hans"
    page = client.post(f"/review/items/{item.id}/release/", follow=True).content.decode()
    assert "已放回：该条目回到了它的队列中。" in page


def test_a_refused_decision_says_why_in_the_persons_language(client, annotator):
    item = claimed_item(annotator)
    client.force_login(annotator)
    client.cookies[COOKIE] = "zh-hans"
    response = client.post(f"/review/items/{item.id}/submit/", {"note": "还没选"})
    assert response.status_code == 422
    page = response.content.decode()
    assert "请为“被标记的回答是”选择一个值" in page and "还没选" in page  # and nothing typed is lost


def test_the_script_catalog_speaks_the_page_language(client):
    client.cookies[COOKIE] = "zh-hans"
    script = client.get("/jsi18n/").content.decode()
    assert json.dumps("按 %(train)s 条训练对话建议：%(epochs)s。") in script


def test_dates_and_numbers_follow_the_language():
    template = engines["django"].from_string('{{ when|date:"SHORT_DATETIME_FORMAT" }} | {{ count|intcomma }}')
    context = {"when": dt.datetime(2026, 12, 6, 14, 5, tzinfo=dt.UTC), "count": 1234567}
    with translation.override("en"):
        assert template.render(context) == "2026-12-06 14:05 | 1,234,567"
    with translation.override("zh-hans"):
        assert template.render(context) == "2026年12月6日 14:05 | 1,234,567"


def test_role_names_follow_the_language(client, annotator):
    client.force_login(annotator)
    client.cookies[COOKIE] = "zh-hans"
    assert "annotator-user · 标注员" in client.get("/review/").content.decode()
