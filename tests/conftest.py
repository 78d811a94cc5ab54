"""Shared fixtures: users with roles, API keys, real Celery workers, the OpenAI-compatible
test server and a headless browser. Settings come from tests/settings.py (real PostgreSQL
and Redis)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.datasets import SHARED_DATASETS
from tests.support.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "pass-word-1"


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request in Chinese leaves Chinese active in its
    thread (LocaleMiddleware activates a language and nothing resets it), and text stored as a
    message id is shown in whatever language is active."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"the public samples are expected in {SHARED_DATASETS}")
    return SHARED_DATASETS


# --- people and keys ---------------------------------------------------------------------------


@pytest.fixture
def make_user(db):
    from flywheel.accounts.roles import Role
    from flywheel.accounts.services import user_create_with_role

    def make(role: str | Role, username: str | None = None):
        role = Role(role)
        return user_create_with_role(username=username or f"{role.value}-user", password=PASSWORD, role=role)

    return make


@pytest.fixture
def annotator(make_user):
    return make_user("annotator")


@pytest.fixture
def engineer(make_user):
    return make_user("engineer")


@pytest.fixture
def ops_user(make_user):
    return make_user("ops")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin")


@pytest.fixture
def api_key(db) -> str:
    from flywheel.accounts.services import api_key_create

    return api_key_create(name="tests").raw_key


@pytest.fixture
def api_client(api_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


# --- workers -----------------------------------------------------------------------------------


@pytest.fixture
def start_worker(transactional_db):
    """Start real Celery worker processes (solo pool, with beat for the sweeper)."""
    from tests.support.workers import CeleryWorker

    started = []

    def start(**kwargs) -> CeleryWorker:
        worker = CeleryWorker(**kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def celery_worker(start_worker):
    return start_worker()


# --- the LLM stand-in --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _openai_server():
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture
def openai_server(_openai_server, settings, monkeypatch):
    """The test server, reset, with settings (and the environment, for worker processes)
    pointing at it."""
    _openai_server.reset()
    settings.OPENAI_BASE_URL = _openai_server.url
    settings.OPENAI_API_KEY = "test-key"
    monkeypatch.setenv("OPENAI_BASE_URL", _openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    return _openai_server


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch_browser

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context. Console errors and CSP violations are collected in
    `page.problems`; tests assert it stays empty where that matters."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda msg: page.problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))
    yield page
    context.close()


@pytest.fixture
def log_in(live_server):
    from tests.support.browser import log_in as _log_in

    def log_in(page, user):
        _log_in(page, live_server.url, user.username, PASSWORD)
        return page

    return log_in
