from django.apps import AppConfig


class ConstructionConfig(AppConfig):
    name = "flywheel.construction"
    label = "construction"
