"""The four roles and how a view declares which of them may reach it.

Roles are Django groups named after `Role` values. Every view in the project declares its
`allowed_roles` (through `role_required` or `RoleRequiredMixin`); a table-driven test walks the
URL configuration and fails on any view that does not, so nothing is left open by omission.
Admins (group `admin` or superusers) pass every role check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class Role(StrEnum):
    ANNOTATOR = "annotator"
    ENGINEER = "engineer"
    OPS = "ops"
    ADMIN = "admin"


# What the pages call each role, in the reader's language.
ROLE_NAMES = {
    Role.ANNOTATOR: gettext_lazy("annotator"),
    Role.ENGINEER: gettext_lazy("engineer"),
    Role.OPS: gettext_lazy("ops"),
    Role.ADMIN: gettext_lazy("admin"),
}

ALL_ROLES = frozenset(Role)
STAFF_ROLES = frozenset({Role.ENGINEER, Role.OPS, Role.ADMIN})
ENGINEERS = frozenset({Role.ENGINEER, Role.ADMIN})
OPERATORS = frozenset({Role.OPS, Role.ADMIN})
REVIEWERS = frozenset({Role.ANNOTATOR, Role.ENGINEER, Role.ADMIN})
# Marks a view any visitor may reach (login page, health check).
PUBLIC = frozenset({"public"})


def user_roles(user) -> frozenset[Role]:
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_flywheel_roles", None)
    if cached is not None:
        return cached
    if user.is_superuser:
        roles = ALL_ROLES
    else:
        names = set(user.groups.values_list("name", flat=True))
        roles = frozenset(Role(n) for n in names if n in Role._value2member_map_)
        if Role.ADMIN in roles:
            roles = ALL_ROLES
    user._flywheel_roles = roles
    return roles


def user_has_any_role(user, allowed: Iterable[Role]) -> bool:
    return bool(user_roles(user) & frozenset(allowed))


def role_required(allowed: Iterable[Role]) -> Callable:
    """Decorate a function view: anonymous users go to login, others without a role get 403."""
    allowed = frozenset(allowed)

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_has_any_role(request.user, allowed):
                raise PermissionDenied(_("Your role does not give access to this page."))
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator


def public(view):
    view.allowed_roles = PUBLIC
    return view


class RoleRequiredMixin:
    """For class-based views: set `allowed_roles` on the class."""

    allowed_roles: frozenset[Role] = frozenset()

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user_has_any_role(request.user, self.allowed_roles):
            raise PermissionDenied(_("Your role does not give access to this page."))
        return super().dispatch(request, *args, **kwargs)
