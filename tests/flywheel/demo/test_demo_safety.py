"""The demo prints well-known passwords: it never runs on a production installation and never
resets the password of an account it did not create."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from flywheel.demo.loop import DemoError
from flywheel.demo.services import DEMO_USERS, demo_users_ensure
from tests.conftest import PASSWORD


def test_the_demo_refuses_to_run_with_flywheel_production(settings, db):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="FLYWHEEL_PRODUCTION=1"):
        call_command("demo", "--no-serve")
    assert not get_user_model().objects.exists()


def test_the_demo_refuses_to_reset_the_password_of_an_existing_real_account(make_user):
    real_admin = make_user("admin", username="admin")
    with pytest.raises(DemoError, match="admin already exist and are not demo accounts"):
        demo_users_ensure()
    real_admin.refresh_from_db()
    assert real_admin.check_password(PASSWORD) and not real_admin.check_password("admin-demo")
    assert not get_user_model().objects.filter(username="engineer").exists()  # nothing half done


def test_an_account_without_a_password_is_not_taken_over_either(db):
    get_user_model().objects.create_user(username="ops")  # e.g. made by createsuperuser --noinput
    with pytest.raises(DemoError, match="ops"):
        demo_users_ensure()
    assert not get_user_model().objects.get(username="ops").has_usable_password()


def test_running_the_demo_again_keeps_its_own_accounts(db):
    demo_users_ensure()
    logins = demo_users_ensure()
    assert [name for name, _, _ in logins] == [name for name, _, _ in DEMO_USERS]
    for name, password, _ in DEMO_USERS:
        assert get_user_model().objects.get(username=name).check_password(password)
