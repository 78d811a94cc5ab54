from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "flywheel.labeling"
    label = "labeling"
    verbose_name = "Labeling"

    def ready(self):
        from flywheel.ingest.panels import session_panel_register
        from flywheel.labeling.kinds import register_label_kind
        from flywheel.labeling.selectors import session_labels_panel

        register_label_kind()
        session_panel_register(order=20, title="Labels", template="labeling/_session_panel.html",
                               context=session_labels_panel)
