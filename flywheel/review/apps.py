from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "flywheel.review"
    label = "review"
    verbose_name = "Review queues"

    def ready(self):
        from flywheel.ingest.panels import (
            TextShield,
            session_access_register,
            session_panel_register,
            session_text_shield_register,
        )
        from flywheel.review import routing  # noqa: F401  (registers the built-in rule)
        from flywheel.review.builtin_kinds import register_builtin_kinds
        from flywheel.review.privacy import review_text_shown, review_texts_shown
        from flywheel.review.selectors import review_session_given_to, review_session_panel

        register_builtin_kinds()
        session_panel_register(order=50, title="Review", template="review/_session_panel.html",
                               context=lambda session: review_session_panel(session_id=session.id))
        # Annotators open the session pages of the items they were given, and read them as the
        # review pages show them: scrubbed.
        session_access_register(name="review", grants=lambda user, session: review_session_given_to(
            user=user, session_id=session.id))
        session_text_shield_register(TextShield(messages=lambda ids: review_texts_shown(message_ids=ids),
                                                text=review_text_shown))
