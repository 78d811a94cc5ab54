"""Setting up the embedded demo: users for each role and generated logs."""

from __future__ import annotations

from flywheel.accounts.roles import Role
from flywheel.accounts.services import user_create_with_role
from flywheel.demo.generator import generate_demo
from flywheel.ingest.services import ingest_batch

# Demo logins, printed by `manage.py demo`. They exist only in the embedded demo database.
DEMO_USERS = [
    ("annotator", "annotator-demo", Role.ANNOTATOR),
    ("annotator2", "annotator2-demo", Role.ANNOTATOR),
    ("engineer", "engineer-demo", Role.ENGINEER),
    ("ops", "ops-demo", Role.OPS),
    ("admin", "admin-demo", Role.ADMIN),
]


def demo_users_ensure() -> list[tuple[str, str, str]]:
    for username, password, role in DEMO_USERS:
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
