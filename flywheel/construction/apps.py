from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConstructionConfig(AppConfig):
    name = "flywheel.construction"
    label = "construction"
    verbose_name = "Bad cases and construction"

    def ready(self):
        # Imported here, not at the top: Django loads apps.py before any app's models exist.
        from flywheel.construction import kinds, mining, tasks
        from flywheel.construction.dataset_sources import (
            ConstructedAnswerSource,
            ConstructedPairSource,
            SyntheticSource,
        )
        from flywheel.construction.routing import thumbs_down_to_badcase
        from flywheel.construction.selectors import session_badcases_panel
        from flywheel.datasets.sources import sample_source_register
        from flywheel.ingest.panels import session_panel_register
        from flywheel.jobs.registry import job_handler_register
        from flywheel.pipeline.registry import pipeline_stage_register
        from flywheel.review.kinds import review_kind_register
        from flywheel.review.routing import routing_rule_register

        # New data, stage 40: every sign that an answer is bad becomes a bad case (no LLM)...
        pipeline_stage_register("badcases", tasks.mine_new_data, order=40)
        mining.badcase_source_register("thumbs_down", mining.thumbs_down_source)
        mining.badcase_source_register("cleaning", mining.cleaning_flag_source)
        mining.badcase_source_register("labels", mining.label_source)
        mining.badcase_source_register("continuity", mining.continuity_source)
        # ...every thumbs-down answer also goes to bad-case review, whose verdicts and rewrites
        # come back to mining...
        review_kind_register(kinds.BADCASE_ANSWER)
        routing_rule_register("thumbs-down-to-badcase", thumbs_down_to_badcase)
        # ...engineers launch construction (Best-of-N answers, judged pairs) and synthesis on the
        # llm queue; reviewers accept or reject what they make...
        job_handler_register("construction.run", tasks.construct, queue="llm")
        job_handler_register("construction.synthesize", tasks.synthesize, queue="llm")
        review_kind_register(kinds.CONSTRUCTED_ANSWER)
        review_kind_register(kinds.CONSTRUCTED_PAIR)
        review_kind_register(kinds.SYNTHETIC_SAMPLE)
        # ...and what they accept is offered to the dataset builder.
        sample_source_register(ConstructedAnswerSource())
        sample_source_register(ConstructedPairSource())
        sample_source_register(SyntheticSource())
        session_panel_register(
            order=45, title=_("Bad cases"), template="construction/_session_panel.html", context=session_badcases_panel
        )
