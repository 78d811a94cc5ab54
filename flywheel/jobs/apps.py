from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "flywheel.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        # Every app registers its job kinds in its own ready(), so a job runs in any process
        # (web thread, Celery worker, management command). tasks.py also holds the Celery tasks.
        from flywheel.jobs import tasks
        from flywheel.jobs.registry import job_handler_register

        job_handler_register("jobs.selftest", tasks.selftest, queue="default", max_attempts=3)
