from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContinuityConfig(AppConfig):
    name = "flywheel.continuity"
    label = "continuity"
    verbose_name = "Topic continuity"

    def ready(self):
        from flywheel.continuity import tasks
        from flywheel.continuity.kinds import register_continuity_kind
        from flywheel.continuity.routing import uncertain_continuity_to_review
        from flywheel.continuity.selectors import session_continuity_panel, topic_switches_for_sessions
        from flywheel.datasets.facts import topic_switches_register
        from flywheel.ingest.panels import session_panel_register
        from flywheel.jobs.registry import job_handler_register
        from flywheel.pipeline.registry import pipeline_stage_register
        from flywheel.review.routing import routing_rule_register

        # New data, stage 30: the classifier predicts which user turns start a new topic...
        pipeline_stage_register("continuity", tasks.continuity_new_data, order=30)
        job_handler_register("continuity.train", tasks.train, queue="default", max_attempts=2)
        job_handler_register("continuity.predict", tasks.predict, queue="default")
        # ...the turns it is unsure about go to continuity review...
        register_continuity_kind()
        routing_rule_register("uncertain-continuity", uncertain_continuity_to_review)
        # ...and the dataset builder cuts sessions where the topic changes.
        topic_switches_register("continuity", topic_switches_for_sessions)
        session_panel_register(
            order=30,
            title=_("Topic continuity"),
            template="continuity/_session_panel.html",
            context=session_continuity_panel,
        )
