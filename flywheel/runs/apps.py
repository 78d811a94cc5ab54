from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "flywheel.runs"
    label = "runs"
    verbose_name = "Training runs"
