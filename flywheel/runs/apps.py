from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "flywheel.runs"
    label = "runs"
    verbose_name = "Training runs"

    def ready(self):
        # Imported here, not at the top: Django loads apps.py before any app's models exist.
        from flywheel.jobs.registry import job_handler_register
        from flywheel.runs import tasks

        # A dataset version becomes a run directory that the trainer reads, on the gpu queue.
        job_handler_register("runs.train", tasks.train, queue="gpu", max_attempts=5)
