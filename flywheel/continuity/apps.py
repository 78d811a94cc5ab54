from django.apps import AppConfig


class ContinuityConfig(AppConfig):
    name = "flywheel.continuity"
    label = "continuity"
    verbose_name = "Topic continuity"

    def ready(self):
        from flywheel.continuity.kinds import register_continuity_kind
        from flywheel.continuity.selectors import session_continuity_panel
        from flywheel.ingest.panels import session_panel_register

        register_continuity_kind()
        session_panel_register(order=30, title="Topic continuity", template="continuity/_session_panel.html",
                               context=session_continuity_panel)
