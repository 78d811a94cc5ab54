"""Logins are throttled by account and by address (django-axes): guessing stops after a few
wrong passwords, even when the next one is right, on the site's login page and the admin's.
API keys are not logins and are never throttled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone

from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
LOCKED = "Too many failed logins"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.FLYWHEEL_LOGIN_ACCOUNT_FAILURES = 5
    settings.FLYWHEEL_LOGIN_ADDRESS_FAILURES = 20
    return settings


def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def log_in(client: Client, username: str, password: str, url: str = LOGIN):
    return client.post(url, {"username": username, "password": password})


def fail(client: Client, username: str, times: int, url: str = LOGIN) -> None:
    for _ in range(times):
        log_in(client, username, "wrong-password", url)


def is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_after_five_wrong_passwords_the_right_one_is_refused_with_the_lockout_message(engineer):
    client = from_address("198.51.100.7")
    fail(client, engineer.username, 5)
    response = log_in(client, engineer.username, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page and "15 minutes" in page
    assert '<header class="container-fluid topbar">' in page  # the site's own layout
    assert not is_logged_in(client)


def test_fewer_wrong_passwords_than_the_limit_leave_the_right_one_working(engineer):
    client = from_address("198.51.100.7")
    fail(client, engineer.username, 4)
    response = log_in(client, engineer.username, PASSWORD)
    assert response.status_code == 302 and is_logged_in(client)


def test_an_account_locked_from_several_addresses_is_refused_from_any_other(engineer):
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"):
        fail(from_address(address), engineer.username, 1)
    fresh = from_address("203.0.113.9")
    response = log_in(fresh, engineer.username, PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode() and not is_logged_in(fresh)


def test_an_address_that_failed_on_many_accounts_is_refused_for_every_account(engineer):
    guesser = from_address("198.51.100.66")
    for number in range(20):
        fail(guesser, f"someone-{number}", 1)  # one try per account: no account reaches its own limit
    refused = log_in(guesser, engineer.username, PASSWORD)
    assert refused.status_code == 429 and LOCKED in refused.content.decode() and not is_logged_in(guesser)
    elsewhere = from_address("203.0.113.10")
    assert log_in(elsewhere, engineer.username, PASSWORD).status_code == 302 and is_logged_in(elsewhere)


def test_nineteen_failures_across_accounts_do_not_lock_the_address(engineer):
    guesser = from_address("198.51.100.67")
    for number in range(19):
        fail(guesser, f"someone-{number}", 1)
    assert log_in(guesser, engineer.username, PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(admin_user):
    client = from_address("198.51.100.8")
    fail(client, admin_user.username, 5, ADMIN_LOGIN)
    response = log_in(client, admin_user.username, PASSWORD, ADMIN_LOGIN)
    assert response.status_code == 429 and LOCKED in response.content.decode() and not is_logged_in(client)


def test_failures_on_the_site_and_the_admin_count_together(admin_user):
    client = from_address("198.51.100.9")
    fail(client, admin_user.username, 3, LOGIN)
    fail(client, admin_user.username, 2, ADMIN_LOGIN)
    assert log_in(client, admin_user.username, PASSWORD, LOGIN).status_code == 429


def test_the_lock_ends_after_the_cool_off(engineer):
    client = from_address("198.51.100.7")
    fail(client, engineer.username, 5)
    assert log_in(client, engineer.username, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, engineer.username, PASSWORD).status_code == 302 and is_logged_in(client)


def test_a_refused_try_during_the_lock_does_not_extend_it(engineer):
    client = from_address("198.51.100.7")
    fail(client, engineer.username, 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    fail(client, engineer.username, 3)  # refused, not counted
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, engineer.username, PASSWORD).status_code == 302


def test_an_admin_command_lifts_every_lock(engineer):
    client = from_address("198.51.100.7")
    fail(client, engineer.username, 5)
    call_command("axes_reset")
    assert log_in(client, engineer.username, PASSWORD).status_code == 302 and is_logged_in(client)


def test_a_stored_failed_attempt_keeps_no_password(engineer):
    log_in(from_address("198.51.100.7"), engineer.username, "my-secret-guess")
    attempt = AccessAttempt.objects.get()
    assert attempt.username == engineer.username and attempt.ip_address == "198.51.100.7"
    assert "my-secret-guess" not in attempt.post_data


def test_an_api_key_keeps_working_from_a_locked_address(api_client, engineer):
    # The test clients both come from 127.0.0.1.
    for number in range(20):
        fail(Client(), f"nobody-{number}", 1)
    assert log_in(Client(), engineer.username, PASSWORD).status_code == 429
    response = api_client.generic("POST", "/api/v1/ingest/", '{"sessions": []}', content_type="application/json")
    assert response.status_code == 200


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    from flywheel.accounts.lockout import client_address

    settings.FLYWHEEL_TRUSTED_PROXIES = 0
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_address(request) == "10.0.0.2"


def test_behind_one_trusted_proxy_the_address_it_saw_is_used_not_one_the_client_wrote(settings):
    from flywheel.accounts.lockout import client_address

    settings.FLYWHEEL_TRUSTED_PROXIES = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5")
    assert client_address(request) == "203.0.113.5"
