from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "flywheel.ui"
    label = "ui"
    verbose_name = "Shared page pieces"
