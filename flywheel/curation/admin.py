"""Read-only admin: scores are written by the scoring job only."""

from django.contrib import admin

from flywheel.curation.models import TurnScore


@admin.register(TurnScore)
class TurnScoreAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "sample", "turn", "metric", "value", "tokens", "model", "created_at"]
    list_filter = ["metric"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
