from django.contrib.auth import views as auth_views
from django.shortcuts import redirect

from flywheel.accounts.roles import ALL_ROLES, Role, public, role_required, user_roles


@public
def login_view(request, *args, **kwargs):
    return auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True)(
        request, *args, **kwargs
    )


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
