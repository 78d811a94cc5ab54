from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from flywheel.accounts.language import (
    LANGUAGE_CODES,
    language_cookie_apply,
    profile_language,
    profile_language_set,
)
from flywheel.accounts.roles import ALL_ROLES, Role, public, role_required, user_roles


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        # The person's saved language replaces whatever this browser was set to; with none
        # saved, their browser's Accept-Language decides.
        response = super().form_valid(form)
        return language_cookie_apply(response, profile_language(user=form.get_user()))


@public
def login_view(request, *args, **kwargs):
    return LoginView.as_view()(request, *args, **kwargs)


@public
@require_POST
def language_set(request):
    """The language switcher: saved on the person's profile (anyone logged out, on the login
    page, keeps it in this browser only), then back to the page it was chosen on."""
    language = request.POST.get("language", "")  # "": follow the browser again
    if language and language not in LANGUAGE_CODES:
        return HttpResponseBadRequest(_("Unknown language."), content_type="text/plain; charset=utf-8")
    if request.user.is_authenticated:
        profile_language_set(user=request.user, language=language)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = "/"
    return language_cookie_apply(redirect(back), language)


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
