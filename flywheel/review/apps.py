from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReviewConfig(AppConfig):
    name = "flywheel.review"
    label = "review"
    verbose_name = "Review queues"

    def ready(self):
        from flywheel.accounts.roles import Role
        from flywheel.ingest.panels import (
            TextShield,
            session_access_register,
            session_panel_register,
            session_text_shield_register,
        )
        from flywheel.jobs.registry import job_handler_register
        from flywheel.pipeline.registry import pipeline_stage_register
        from flywheel.review import tasks
        from flywheel.review.builtin_kinds import ADJUDICATION, PREFERENCE_PAIR
        from flywheel.review.kinds import review_kind_register
        from flywheel.review.privacy import review_text_shown, review_texts_shown
        from flywheel.review.selectors import review_session_given_to, review_session_panel

        # New data, stage 50: every routing rule the other apps register (thumbs-down answers,
        # labels, uncertain continuity) fills the review queues; items whose reviewers disagree
        # go to adjudication.
        pipeline_stage_register("review", tasks.route_new_data, order=50)
        job_handler_register("review.bulk_action", tasks.bulk_action, queue="default")
        # A submitted decision becomes final (and is applied) when its undo period ends. Only
        # admins may cancel such a job: a cancelled one would leave the item undecided.
        job_handler_register("review.finalize", tasks.finalize, queue="default", max_attempts=20, roles=[Role.ADMIN])
        review_kind_register(PREFERENCE_PAIR)
        review_kind_register(ADJUDICATION)
        session_panel_register(
            order=50,
            title=_("Review"),
            template="review/_session_panel.html",
            context=lambda session: review_session_panel(session_id=session.id),
        )
        # Annotators open the session pages of the items they were given, and read them as the
        # review pages show them: scrubbed.
        session_access_register(
            name="review", grants=lambda user, session: review_session_given_to(user=user, session_id=session.id)
        )
        session_text_shield_register(
            name="review",
            shield=TextShield(messages=lambda ids: review_texts_shown(message_ids=ids), text=review_text_shown),
        )
