from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "flywheel.demo"
    label = "demo"
