"""Settings for the test suite: the product's settings on real PostgreSQL and Redis.

Each pytest process gets its own test database and its own Redis key prefix, so two runs on
one machine (or a developer's run beside CI) never share tables or queues. Worker processes
started by tests run with these settings too and inherit these variables (with DATABASE_URL
pointed at the test database).
"""

import os
import tempfile

_run = f"{os.getpid()}"
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flywheel")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("FLYWHEEL_TEST_DB_NAME", f"test_flywheel_{_run}")
os.environ.setdefault("FLYWHEEL_REDIS_PREFIX", f"flywheel-test-{_run}:")
if "FLYWHEEL_VAR_DIR" not in os.environ:  # worker processes inherit the one made here
    os.environ["FLYWHEEL_VAR_DIR"] = tempfile.mkdtemp(prefix=f"flywheel-test-{_run}-")
os.environ.setdefault("FLYWHEEL_TASK_MODE", "celery")
# Short leases so tests that kill a worker see its job handed over in seconds, not minutes.
os.environ.setdefault("FLYWHEEL_JOB_LEASE_S", "6")
os.environ.setdefault("FLYWHEEL_JOB_REQUEUE_AFTER_S", "30")
os.environ.setdefault("FLYWHEEL_SWEEP_INTERVAL_S", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Review decisions final at once, as most tests expect; the undo tests set their own period.
os.environ.setdefault("FLYWHEEL_REVIEW_UNDO_SECONDS", "0")
# Playwright's sync API runs an event loop in the test thread; the test's own database calls
# (fixtures, assertions) are still synchronous and safe there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The remote LLM is never reached from tests: an unset base URL means "not configured".
os.environ.setdefault("OPENAI_BASE_URL", "")

from flywheel.settings import *  # noqa: E402,F401,F403

# A job kind for testing the job machinery itself, with its own table: installed here only, so
# neither is part of the product (tests/support/selftest).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.selftest"]  # noqa: F405

# Hashing passwords at full strength would dominate the run time of browser tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
