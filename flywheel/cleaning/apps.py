from django.apps import AppConfig


class CleaningConfig(AppConfig):
    name = "flywheel.cleaning"
    label = "cleaning"
    verbose_name = "Cleaning"

    def ready(self):
        from flywheel.cleaning.selectors import session_cleaning_panel
        from flywheel.ingest.panels import session_panel_register

        session_panel_register(order=10, title="Cleaning", template="cleaning/_session_panel.html",
                               context=session_cleaning_panel)
