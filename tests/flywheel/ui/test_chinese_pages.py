"""Every page renders in Chinese as it does in English: a translation that broke a template (a
lost placeholder, a bad blocktranslate) shows up here as an error page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.flywheel.test_access_and_xss import app_views


@pytest.mark.django_db
def test_every_page_answers_the_same_in_chinese_and_in_english(admin_user):
    differences = []
    for url, _callback, name in app_views():
        statuses = {}
        for language in ("en", "zh-hans"):
            client = Client(raise_request_exception=False)
            client.force_login(admin_user)
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
            statuses[language] = client.get(url).status_code
        if statuses["en"] != statuses["zh-hans"] or statuses["zh-hans"] >= 500:
            differences.append(f"{url} ({name}): {statuses}")
    assert differences == []


@pytest.mark.django_db
def test_the_pages_an_engineer_opens_first_are_in_chinese(client, engineer):
    client.force_login(engineer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    expected = {
        "/dashboard/": "各模型版本的点赞率",
        "/review/queues/": "审核队列",
        "/datasets/": "构建版本",
        "/jobs/": "后台作业",
        "/cleaning/": "清洗",
    }
    for url, text in expected.items():
        page = client.get(url).content.decode()
        assert text in page, url
        assert '<html lang="zh-hans">' in page, url
