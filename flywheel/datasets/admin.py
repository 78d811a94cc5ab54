"""Read-only admin: versions and their samples are immutable once built."""

from django.contrib import admin

from flywheel.datasets.models import DatasetBuild, DatasetSample, DatasetVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "content_hash", "sample_count", "train_count", "eval_count", "created_at"]


@admin.register(DatasetSample)
class DatasetSampleAdmin(ReadOnlyAdmin):
    list_display = ["id", "version", "position", "split", "kind", "task_type", "source", "sample_hash"]
    list_filter = ["split", "kind", "source"]


@admin.register(DatasetBuild)
class DatasetBuildAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "status", "version", "reused", "created_at"]
