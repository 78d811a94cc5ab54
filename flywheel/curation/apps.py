from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "flywheel.curation"
    label = "curation"
    verbose_name = "Curation"

    def ready(self):
        from flywheel.accounts.roles import STAFF_ROLES
        from flywheel.curation import tasks
        from flywheel.jobs.registry import job_handler_register

        # IFD needs a forward pass of a causal LM per turn: the gpu worker runs it. Engineers
        # curate and ops hold the GPUs, so both may cancel and re-drive it.
        job_handler_register("curation.ifd", tasks.score_ifd, queue="gpu", max_attempts=3, roles=STAFF_ROLES)
        job_handler_register("curation.reward", tasks.score_reward, queue="gpu", max_attempts=3, roles=STAFF_ROLES)
        # MoDS's necessity stage: the seed model answers, the reward model scores (both on the GPU).
        job_handler_register(
            "curation.necessity", tasks.score_necessity, queue="gpu", max_attempts=3, roles=STAFF_ROLES
        )
