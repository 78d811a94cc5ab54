from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "flywheel.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        # Every app registers its job handlers in its tasks.py; load them all so a job can run
        # in any process (web thread, Celery worker, management command).
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
