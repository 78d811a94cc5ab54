"""Logging in, landing where each role works, and API keys that exist only as hashes."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from flywheel.accounts.models import ApiKey
from flywheel.accounts.services import api_key_hash


@pytest.mark.django_db
def test_create_api_key_prints_the_key_last_and_stores_only_its_hash(capsys):
    call_command("create_api_key", "--name", "chat-app")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    stored = ApiKey.objects.get()
    assert key.startswith("fw_") and len(key) > 40
    assert stored.key_hash == api_key_hash(key) and key not in (stored.key_hash, stored.prefix)


@pytest.mark.django_db
def test_an_api_key_needs_a_name():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="needs a name"):
        call_command("create_api_key", "--name", "  ")


@pytest.mark.parametrize(
    "role, landing", [("engineer", "/dashboard/"), ("ops", "/dashboard/"), ("annotator", "/review/")]
)
def test_each_role_lands_where_its_work_is(client, make_user, role, landing):
    client.force_login(make_user(role))
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith(landing)


def test_a_wrong_password_does_not_log_in(client, engineer):
    response = client.post("/accounts/login/", {"username": engineer.username, "password": "wrong"})
    assert response.status_code == 200 and "didn't match" in response.content.decode()


def test_logging_out_needs_a_post_and_ends_the_session(client, engineer):
    client.force_login(engineer)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.browser
def test_the_navigation_shows_each_role_its_own_doors(page, log_in, annotator, ops_user):
    log_in(page, ops_user)
    page.goto("/dashboard/")
    nav = page.inner_text("header nav")
    assert "Jobs" in nav and "Imports" not in nav and "Admin" not in nav
    assert page.problems == []
