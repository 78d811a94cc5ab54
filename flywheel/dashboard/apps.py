from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "flywheel.dashboard"
    label = "dashboard"

    def ready(self):
        from flywheel.dashboard import tasks
        from flywheel.jobs.registry import job_handler_register

        job_handler_register("dashboard.rollup", tasks.rollup, queue="default")
