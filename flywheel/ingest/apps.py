from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "flywheel.ingest"
    label = "ingest"
    verbose_name = "Sessions, messages and feedback"

    def ready(self):
        # Imported here, not at the top: Django loads apps.py before any app's models exist.
        from flywheel.ingest import tasks
        from flywheel.jobs.registry import job_handler_register

        # New data arrives by the HTTP batch API or a file import; either announces it to the
        # pipeline (flywheel/pipeline), whose stages the apps below register.
        job_handler_register("ingest.import_file", tasks.import_file, queue="default")
