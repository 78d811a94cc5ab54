from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "flywheel.evaluation"
    label = "evaluation"
    verbose_name = "Evaluation"

    def ready(self):
        from flywheel.accounts.roles import Role
        from flywheel.evaluation import tasks
        from flywheel.evaluation.drafts import session_eval_panel
        from flywheel.evaluation.kinds import BLIND_AB
        from flywheel.ingest.panels import session_panel_register
        from flywheel.jobs.registry import job_handler_register
        from flywheel.review.kinds import review_kind_register

        # Local models answer on the gpu worker (`python -m training generate`); endpoint answers
        # and the judge are LLM calls, on the llm queue. The first job queues the second.
        roles = {Role.OPS, Role.ENGINEER, Role.ADMIN}
        job_handler_register(
            "evaluation.generate", tasks.evaluation_generate_answers, queue="gpu", max_attempts=20, roles=roles
        )
        job_handler_register(
            "evaluation.judge", tasks.evaluation_judge_answers, queue="llm", max_attempts=20, roles=roles
        )
        # Blind A/B comparisons by people, for judge-vs-human agreement.
        review_kind_register(BLIND_AB)
        # On the session page: add a reviewed answer, as the reference, to an evaluation set draft.
        session_panel_register(
            order=70, title="Evaluation sets", template="evaluation/_session_panel.html", context=session_eval_panel
        )
