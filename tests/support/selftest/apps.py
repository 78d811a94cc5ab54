from django.apps import AppConfig


class SelfTestConfig(AppConfig):
    name = "tests.support.selftest"
    label = "selftest"
    verbose_name = "Job self-test (tests only)"

    def ready(self):
        # Imported here, not at the top: Django loads apps.py before any app's models exist.
        from flywheel.jobs.registry import job_handler_register
        from tests.support.selftest.handlers import selftest

        job_handler_register("tests.selftest", selftest, queue="default", max_attempts=3)
