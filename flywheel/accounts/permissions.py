from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission

from flywheel.accounts.api_auth import ApiKeyPrincipal
from flywheel.accounts.roles import PUBLIC, user_has_any_role

API_KEY = "api_key"


class HasAllowedRole(BasePermission):
    """API views declare `allowed_roles` like pages do; `API_KEY` in it admits machine clients.
    A view that declares nothing admits nobody."""

    message = gettext_lazy("Your role does not give access to this endpoint.")

    def has_permission(self, request, view):
        allowed = getattr(view, "allowed_roles", frozenset())
        if allowed == PUBLIC:
            return True
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            return API_KEY in allowed
        if not getattr(user, "is_authenticated", False):
            return False
        return user_has_any_role(user, {r for r in allowed if r != API_KEY})
