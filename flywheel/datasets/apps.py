from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DatasetsConfig(AppConfig):
    name = "flywheel.datasets"
    label = "datasets"
    verbose_name = "Datasets"

    def ready(self):
        # Imported here, not at the top: Django loads apps.py before any app's models exist.
        from flywheel.accounts.roles import STAFF_ROLES
        from flywheel.datasets import tasks
        from flywheel.datasets.builtin_sources import IngestPairSource, SessionSource
        from flywheel.datasets.selectors import dataset_session_panel
        from flywheel.datasets.sources import sample_source_register
        from flywheel.ingest.panels import session_panel_register
        from flywheel.jobs.registry import job_handler_register

        # Datasets are built on request, not from each new batch: an immutable version from the
        # sample sources the apps register (these two; construction's), with the labels and topic
        # switches labeling and continuity hand over (flywheel/datasets/facts.py).
        sample_source_register(SessionSource())
        sample_source_register(IngestPairSource())
        # Ops launch builds too, so they may cancel and re-drive them.
        job_handler_register(
            "datasets.build", tasks.build_dataset_version, queue="default", max_attempts=3, roles=STAFF_ROLES
        )
        session_panel_register(
            order=60, title=_("Datasets"), template="datasets/_session_panel.html", context=dataset_session_panel
        )
