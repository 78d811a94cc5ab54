from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "flywheel.evaluation"
    label = "evaluation"
    verbose_name = "Evaluation"

    def ready(self):
        from flywheel.accounts.roles import Role
        from flywheel.evaluation import tasks
        from flywheel.evaluation.kinds import BLIND_AB
        from flywheel.jobs.registry import job_handler_register
        from flywheel.review.kinds import review_kind_register

        # Generation of a run's answers needs the GPU worker; judging follows in the same job.
        job_handler_register(
            "evaluation.run",
            tasks.evaluation_run,
            queue="gpu",
            max_attempts=20,
            roles={Role.OPS, Role.ENGINEER, Role.ADMIN},
        )
        # Blind A/B comparisons by people, for judge-vs-human agreement.
        review_kind_register(BLIND_AB)
