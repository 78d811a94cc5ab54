from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "flywheel.dashboard"
    label = "dashboard"
