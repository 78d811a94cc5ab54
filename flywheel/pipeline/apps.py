from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "flywheel.pipeline"
    label = "pipeline"
    verbose_name = "Processing pipeline"

    def ready(self):
        # Imported here, not at the top: Django loads apps.py before any app's models exist.
        from flywheel.jobs.registry import job_handler_register
        from flywheel.pipeline import tasks

        # One run (at most one waiting) whenever ingest writes new data: every stage the apps
        # register, in order: cleaning 10, labeling 20, continuity 30, badcases 40, review 50.
        job_handler_register("pipeline.new_data", tasks.new_data, queue="default")
