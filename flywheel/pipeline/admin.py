from django.contrib import admin

from flywheel.pipeline.models import Cursor


@admin.register(Cursor)
class CursorAdmin(admin.ModelAdmin):
    """Read-only: a cursor moved by hand would skip rows or route them again."""

    list_display = ["name", "position", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
