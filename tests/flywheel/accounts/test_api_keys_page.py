"""API keys in the browser UI (engineers): create one (shown once, only its hash stored), list keys
with their last use, revoke one (the ingest API refuses it at once); every change audited."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from flywheel.accounts.models import ApiKey, AuditEvent

INGEST = "/api/v1/ingest/"
PAGE = "/accounts/api-keys/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _ingest(raw_key: str):
    return Client().post(
        INGEST, {"sessions": []}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw_key}"
    )


def _create(client, name="shop log shipper") -> str:
    response = client.post(PAGE, {"name": name})
    assert response.status_code == 200
    return response.context["created"].raw_key


def test_an_engineer_creates_a_key_that_is_shown_once_and_stored_only_as_a_hash(engineer):
    client = _client(engineer)
    response = client.post(PAGE, {"name": "shop log shipper"})
    raw = response.context["created"].raw_key
    assert raw.startswith("fw_") and raw in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    stored = ApiKey.objects.get()
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {stored.name, stored.prefix, stored.key_hash} and raw.startswith(stored.prefix)
    assert stored.created_by == engineer
    assert raw not in client.get(PAGE).content.decode(), "never shown again"
    assert _ingest(raw).status_code == 200


def test_creating_a_key_is_audited_without_the_key(engineer):
    raw = _create(_client(engineer))
    event = AuditEvent.objects.get(action="api_key.create")
    assert event.actor == engineer and event.target_id == str(ApiKey.objects.get().id)
    assert raw not in str(event.detail)


def test_a_name_with_a_nul_or_over_100_characters_is_cleaned_not_a_crash(engineer):
    client = _client(engineer)
    assert _create(client, name="ship\x00per").startswith("fw_")
    assert _create(client, name="x" * 500).startswith("fw_")
    assert sorted(len(k.name) for k in ApiKey.objects.all()) == [7, 100]


def test_a_key_needs_a_name(engineer):
    response = _client(engineer).post(PAGE, {"name": "   "}, follow=True)
    assert response.context["created"] is None and not ApiKey.objects.exists()
    assert "Give the key a name" in response.content.decode()


def test_the_list_shows_each_keys_last_use(engineer):
    client = _client(engineer)
    raw = _create(client)
    assert "never" in client.get(PAGE).content.decode()
    _ingest(raw)
    key = ApiKey.objects.get()
    assert key.last_used_at is not None
    assert key.last_used_at.strftime("%Y-%m-%d") in client.get(PAGE).content.decode().split("never")[0]


def test_a_revoked_key_is_refused_by_the_ingest_api_at_once(engineer):
    client = _client(engineer)
    raw = _create(client)
    assert _ingest(raw).status_code == 200  # verified once, so remembered by this process
    key = ApiKey.objects.get()
    response = client.post(reverse("accounts:api_key_revoke", args=[key.id]), follow=True)
    assert "is revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    refused = _ingest(raw)
    assert refused.status_code == 401 and "revoked" in refused.content.decode()
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert event.actor == engineer and event.target_id == str(key.id)


def test_revoking_twice_changes_nothing_and_audits_once(engineer):
    client = _client(engineer)
    _create(client)
    url = reverse("accounts:api_key_revoke", args=[ApiKey.objects.get().id])
    client.post(url)
    revoked_at = ApiKey.objects.get().revoked_at
    assert "already revoked" in client.post(url, follow=True).content.decode()
    assert ApiKey.objects.get().revoked_at == revoked_at
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1


def test_revoking_needs_a_post(engineer):
    client = _client(engineer)
    _create(client)
    key = ApiKey.objects.get()
    assert client.get(reverse("accounts:api_key_revoke", args=[key.id])).status_code == 405
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize("role", ["annotator", "ops"])
def test_annotators_and_ops_get_403_and_change_nothing(make_user, engineer, role):
    _create(_client(engineer))
    key = ApiKey.objects.get()
    client = _client(make_user(role))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"name": "mine"}).status_code == 403
    assert client.post(reverse("accounts:api_key_revoke", args=[key.id])).status_code == 403
    assert ApiKey.objects.count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None


def test_admins_manage_keys_too(admin_user):
    assert _create(_client(admin_user)).startswith("fw_")


def test_the_key_name_is_shown_escaped(engineer):
    client = _client(engineer)
    _create(client, name="<img src=x onerror=alert(1)>")
    body = client.get(PAGE).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and "<img src=x" not in body
