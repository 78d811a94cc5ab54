"""Setting up the embedded demo: users for each role and generated logs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model

from flywheel.accounts.roles import Role
from flywheel.accounts.services import user_create_with_role
from flywheel.demo.generator import generate_demo
from flywheel.demo.loop import DemoError
from flywheel.ingest.services import ingest_batch

# Demo logins, printed by `manage.py demo`. They exist only in the embedded demo database.
DEMO_USERS = [
    ("annotator", "annotator-demo", Role.ANNOTATOR),
    ("annotator2", "annotator2-demo", Role.ANNOTATOR),
    ("engineer", "engineer-demo", Role.ENGINEER),
    ("ops", "ops-demo", Role.OPS),
    ("admin", "admin-demo", Role.ADMIN),
]


def demo_allowed_check() -> None:
    """The demo prints well-known passwords: never on a production installation."""
    if settings.PRODUCTION:
        raise DemoError(
            "the demo does not run with FLYWHEEL_PRODUCTION=1: it creates accounts with published "
            "passwords. Run it on its own installation (no DATABASE_URL, its own FLYWHEEL_VAR_DIR)."
        )


def demo_users_ensure() -> list[tuple[str, str, str]]:
    """Create the demo accounts. An account of the same name that the demo did not make (its
    password is not the demo's) is left alone and the demo refuses to go on: it would otherwise
    reset a real person's password to one printed on the screen."""
    demo_allowed_check()
    existing = {
        user.username: user
        for user in get_user_model().objects.filter(username__in=[name for name, _, _ in DEMO_USERS])
    }
    foreign = sorted(
        name for name, password, _ in DEMO_USERS if name in existing and not existing[name].check_password(password)
    )
    if foreign:
        raise DemoError(
            f"account(s) {', '.join(foreign)} already exist and are not demo accounts; the demo will not "
            "reset their passwords. Run it on its own installation (no DATABASE_URL, its own "
            "FLYWHEEL_VAR_DIR)."
        )
    for username, password, role in DEMO_USERS:
        if username not in existing:
            user_create_with_role(username=username, password=password, role=role)
    return [(username, password, role.value) for username, password, role in DEMO_USERS]


def demo_logs_ingest(*, seed: int = 7, sessions: int = 300) -> dict:
    """Generate and ingest demo logs. Ids derive from the seed, so a second run adds nothing."""
    data = generate_demo(seed=seed, sessions=sessions)
    totals: dict[str, int] = {}
    for batch in data.batches:
        result = ingest_batch(**batch, source="demo", announce=False)
        for key, value in result.counts().items():
            totals[key] = totals.get(key, 0) + value
    return {"sessions": data.session_count, "counts": totals, "planted": {k: len(v) for k, v in data.plan.items()}}
