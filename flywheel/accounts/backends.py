"""The authentication backend: Django's own, with every permission of the Django admin given to
the admin role (the README promises admins the admin site; `is_staff` alone opens its door to
an empty page). Computed, not stored on the group, so models added later are covered too."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission

from flywheel.accounts.roles import Role, user_roles


class RoleModelBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if obj is None and user_obj.is_active and not user_obj.is_anonymous and Role.ADMIN in user_roles(user_obj):
            if not hasattr(user_obj, "_admin_role_perm_cache"):
                rows = Permission.objects.values_list("content_type__app_label", "codename")
                user_obj._admin_role_perm_cache = {f"{app}.{codename}" for app, codename in rows}
            return user_obj._admin_role_perm_cache
        return super().get_all_permissions(user_obj, obj)
