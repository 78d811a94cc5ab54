from django.apps import AppConfig


class ConstructionConfig(AppConfig):
    name = "flywheel.construction"
    label = "construction"
    verbose_name = "Bad cases and construction"

    def ready(self):
        from flywheel.construction import mining  # noqa: F401  (registers the built-in sources)
        from flywheel.construction.kinds import register_kinds
        from flywheel.construction.selectors import session_badcases_panel
        from flywheel.ingest.panels import session_panel_register

        register_kinds()
        session_panel_register(order=45, title="Bad cases", template="construction/_session_panel.html",
                               context=session_badcases_panel)
