from __future__ import annotations

import hashlib
import secrets
import time
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
    name = " ".join(name.replace("\x00", "").split())  # PostgreSQL refuses NUL in text
    if not name:
        raise ValueError("an API key needs a name")
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        name=name[:100], prefix=raw_key[:10], key_hash=api_key_hash(raw_key), created_by=created_by
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


# A machine client sends many requests a second; each process remembers a verified key this
# long instead of looking it up every time. A revoked key is refused within this delay.
KEY_CACHE_SECONDS = 10.0
_KEY_CACHE_MAX = 1000
_verified: dict[str, tuple[ApiKey, float]] = {}


def api_key_verify(raw_key: str) -> ApiKey | None:
    """The active key with this value, or None."""
    key_hash, now = api_key_hash(raw_key), time.monotonic()
    hit = _verified.get(key_hash)
    if hit and hit[1] > now:
        return hit[0]
    api_key = ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if api_key is None:
        _verified.pop(key_hash, None)
        return None
    if len(_verified) >= _KEY_CACHE_MAX:
        _verified.clear()
    _verified[key_hash] = (api_key, now + KEY_CACHE_SECONDS)
    return api_key


def api_key_revoke(*, api_key_id: int) -> bool:
    """Refused at once in this process, within KEY_CACHE_SECONDS in the others. False: no such
    key, or it was revoked already (nothing changed)."""
    revoked = ApiKey.objects.filter(id=api_key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    _verified.clear()
    return bool(revoked)


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
