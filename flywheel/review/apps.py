from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "flywheel.review"
    label = "review"
    verbose_name = "Review queues"

    def ready(self):
        from flywheel.ingest.panels import session_panel_register
        from flywheel.review import routing  # noqa: F401  (registers the built-in rule)
        from flywheel.review.builtin_kinds import register_builtin_kinds
        from flywheel.review.selectors import review_session_panel

        register_builtin_kinds()
        session_panel_register(order=50, title="Review", template="review/_session_panel.html",
                               context=lambda session: review_session_panel(session_id=session.id))
