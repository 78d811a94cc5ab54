from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render

from flywheel.accounts.roles import ALL_ROLES, Role, public, role_required, user_roles


@public
def login_view(request, *args, **kwargs):
    return auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True)(
        request, *args, **kwargs
    )


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: what a login refused by the throttle (flywheel/accounts/lockout.py)
    answers, on /accounts/login/ and /admin/login/ alike."""
    return render(request, "accounts/locked_out.html", {"minutes": settings.FLYWHEEL_LOGIN_LOCKOUT_MINUTES}, status=429)


@public
def logout_view(request, *args, **kwargs):
    return auth_views.LogoutView.as_view()(request, *args, **kwargs)


@role_required(ALL_ROLES)
def home(request):
    """Each role lands where its work is."""
    held = user_roles(request.user)
    if held & {Role.ENGINEER, Role.OPS, Role.ADMIN}:
        return redirect("dashboard:index")
    return redirect("review:home")
