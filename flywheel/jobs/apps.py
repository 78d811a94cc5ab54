from django.apps import AppConfig


class JobsConfig(AppConfig):
    # Registers no job kind of its own: every app registers its kinds in its own ready(), so a
    # job runs in any process (web thread, Celery worker, management command).
    name = "flywheel.jobs"
    label = "jobs"
    verbose_name = "Jobs"
