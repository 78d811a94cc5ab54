from django.apps import AppConfig


class CleaningConfig(AppConfig):
    name = "flywheel.cleaning"
    label = "cleaning"
