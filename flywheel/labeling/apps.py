from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "flywheel.labeling"
    label = "labeling"
