"""The admin role gets the Django admin the README promises: every model, not an empty page."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/auth/user/", "/admin/accounts/auditevent/", "/admin/axes/accessattempt/"]
)
def test_an_admin_can_use_every_part_of_the_django_admin(client, admin_user, url):
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200


def test_the_admin_index_lists_the_projects_models(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "Audit events" in page and "Users" in page and "Access attempts" in page
    assert "have permission to view or edit anything" not in page


def test_an_admin_may_change_users(admin_user, engineer):
    assert admin_user.has_perm("auth.change_user") and admin_user.has_module_perms("ingest")


@pytest.mark.parametrize("role", ["annotator", "engineer", "ops"])
def test_other_roles_get_no_django_admin_permission(make_user, role):
    user = make_user(role)
    assert not user.is_staff and not user.has_perm("auth.change_user") and not user.get_all_permissions()


def test_other_roles_are_sent_to_the_admin_login(client, engineer):
    client.force_login(engineer)
    response = client.get("/admin/auth/user/")
    assert response.status_code == 302 and "/admin/login/" in response.url
