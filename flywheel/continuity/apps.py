from django.apps import AppConfig


class ContinuityConfig(AppConfig):
    name = "flywheel.continuity"
    label = "continuity"
