from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from flywheel.accounts.models import ApiKey
from flywheel.accounts.services import api_key_verify

# Writing last_used_at on every request would turn each ingest call into an extra UPDATE.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyPrincipal:
    """The identity of a machine client. It carries no user roles: API keys reach only the
    endpoints that list `api_key` access (ingest)."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.username = f"api-key:{api_key.name}"
        self.pk = None

    def __str__(self) -> str:
        return self.username


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer fw_...` or `X-Api-Key: fw_...`."""

    keyword = "bearer"

    def authenticate(self, request):
        raw = request.META.get("HTTP_X_API_KEY", "")
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not raw and header:
            parts = header.split()
            if len(parts) == 2 and parts[0].lower() == self.keyword:
                raw = parts[1]
            elif parts and parts[0].lower() == self.keyword:
                raise exceptions.AuthenticationFailed(_("Malformed Authorization header: use 'Bearer <key>'."))
        if not raw:
            return None
        api_key = api_key_verify(raw)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
            ApiKey.objects.filter(id=api_key.id).update(last_used_at=now)
            api_key.last_used_at = now
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="flywheel"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes API keys in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key from `manage.py create_api_key`."}
