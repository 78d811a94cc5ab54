from django.contrib import admin

from flywheel.runs.models import RunMetric, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "status", "dataset_version", "current_step", "total_steps", "last_loss", "created_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in TrainingRun._meta.fields]


@admin.register(RunMetric)
class RunMetricAdmin(admin.ModelAdmin):
    list_display = ["run", "kind", "step", "loss", "lr", "tokens_per_s"]
    readonly_fields = [f.name for f in RunMetric._meta.fields]
