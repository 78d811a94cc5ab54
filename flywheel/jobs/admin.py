from django.contrib import admin

from flywheel.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "queue", "status", "progress_done", "progress_total", "attempts", "created_at"]
    list_filter = ["status", "queue", "kind"]
    readonly_fields = [f.name for f in Job._meta.fields]
