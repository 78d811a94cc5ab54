from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from flywheel.accounts.models import ApiKey, AuditEvent
from flywheel.accounts.roles import Role

KEY_PREFIX = "fw_"


def api_key_hash(raw_key: str) -> str:
    # Keys are 256 random bits, so a fast unsalted hash is enough (no dictionary to attack).
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str


def api_key_create(*, name: str, created_by=None) -> CreatedApiKey:
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        name=name[:100], prefix=raw_key[:10], key_hash=api_key_hash(raw_key), created_by=created_by
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key_id: int) -> None:
    """Other processes stop accepting the key within api_auth.KEY_CACHE_SECONDS."""
    from flywheel.accounts.api_auth import forget_verified_keys

    ApiKey.objects.filter(id=api_key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    forget_verified_keys()


def roles_ensure() -> None:
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@transaction.atomic
def user_create_with_role(*, username: str, password: str, role: Role, email: str = ""):
    roles_ensure()
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    # Admins also get the Django admin site.
    user.is_staff = role == Role.ADMIN
    user.save()
    user.groups.set([Group.objects.get(name=role.value)])
    return user


def audit_record(*, actor, action: str, target_type: str, target_id, detail: dict | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail or {},
    )
