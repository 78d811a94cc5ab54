from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "flywheel.datasets"
    label = "datasets"
    verbose_name = "Datasets"

    def ready(self):
        from flywheel.datasets.builtin_sources import register_builtin_sources
        from flywheel.datasets.selectors import dataset_session_panel
        from flywheel.ingest.panels import session_panel_register

        register_builtin_sources()
        session_panel_register(order=60, title="Datasets", template="datasets/_session_panel.html",
                               context=dataset_session_panel)
