from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabelingConfig(AppConfig):
    name = "flywheel.labeling"
    label = "labeling"
    verbose_name = "Labeling"

    def ready(self):
        from flywheel.datasets.facts import session_labels_register
        from flywheel.ingest.facets import session_facet_register
        from flywheel.ingest.panels import session_panel_register
        from flywheel.jobs.registry import job_handler_register
        from flywheel.labeling import facets, tasks
        from flywheel.labeling.kinds import label_review_kind
        from flywheel.labeling.routing import labels_to_review
        from flywheel.labeling.selectors import labels_for_sessions, session_labels_panel
        from flywheel.pipeline.registry import pipeline_stage_register
        from flywheel.review.kinds import review_kind_register
        from flywheel.review.routing import routing_rule_register

        # New data, stage 20: sessions cleaning kept are labelled (task type, quality), in
        # batches on the llm queue...
        pipeline_stage_register("labeling", tasks.label_new_data, order=20)
        job_handler_register("labeling.label_batch", tasks.label_batch, queue="llm")
        job_handler_register("labeling.run_pending", tasks.run_pending, queue="default")
        # ...labels that look steered or rate low go to label review...
        review_kind_register(label_review_kind())
        routing_rule_register("labels-to-review", labels_to_review)
        # ...and the dataset builder reads each session's label.
        session_labels_register("labeling", labels_for_sessions)
        session_panel_register(
            order=20, title=_("Labels"), template="labeling/_session_panel.html", context=session_labels_panel
        )
        # The sessions list filters by task type and quality and shows the speaking label.
        session_facet_register(
            name="task_type",
            title=_("Task type"),
            order=20,
            choices=facets.task_type_choices,
            filter=facets.sessions_by_task_type,
            column=facets.label_column,
            column_title=_("Label"),
        )
        session_facet_register(
            name="quality",
            title=_("Quality"),
            order=21,
            choices=facets.quality_choices,
            filter=facets.sessions_by_quality,
        )
