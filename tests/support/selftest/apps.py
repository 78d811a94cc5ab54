from django.apps import AppConfig


class SelfTestConfig(AppConfig):
    name = "tests.support.selftest"
    label = "selftest"
    verbose_name = "Job self-test (tests only)"

    def ready(self):
        from flywheel.jobs.registry import job_handler_register
        from tests.support.selftest.handlers import selftest

        job_handler_register("tests.selftest", selftest, queue="default", max_attempts=3)
