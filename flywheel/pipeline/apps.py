from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "flywheel.pipeline"
    label = "pipeline"
    verbose_name = "Processing pipeline"
