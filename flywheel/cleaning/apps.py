from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CleaningConfig(AppConfig):
    name = "flywheel.cleaning"
    label = "cleaning"
    verbose_name = "Cleaning"

    def ready(self):
        # Imported here, not at the top: Django loads apps.py before any app's models exist.
        from flywheel.cleaning import facets, tasks
        from flywheel.cleaning.selectors import session_cleaning_panel
        from flywheel.ingest.facets import session_facet_register
        from flywheel.ingest.panels import session_panel_register
        from flywheel.jobs.registry import job_handler_register
        from flywheel.pipeline.registry import pipeline_stage_register

        # New data, stage 10: every new session is cleaned (rules, PII scrubbing, duplicates):
        # kept, flagged or dropped.
        pipeline_stage_register("cleaning", tasks.clean_new_data, order=10)
        job_handler_register("cleaning.rerun", tasks.rerun, queue="default")
        session_panel_register(
            order=10, title=_("Cleaning"), template="cleaning/_session_panel.html", context=session_cleaning_panel
        )
        session_facet_register(
            name="cleaning",
            title=_("Cleaning"),
            order=10,
            choices=facets.cleaning_choices,
            filter=facets.sessions_by_cleaning,
            column=facets.cleaning_column,
        )
