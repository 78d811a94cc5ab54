from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import views as auth_views
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from flywheel.accounts.language import (
    LANGUAGE_CODES,
    language_cookie_apply,
    profile_language,
    profile_language_set,
)
from flywheel.accounts.models import ApiKey
from flywheel.accounts.roles import ALL_ROLES, ENGINEERS, Role, public, role_required, user_roles
from flywheel.accounts.selectors import api_keys_list
from flywheel.accounts.services import api_key_create, api_key_revoke, audit_record


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


# --- API keys (engineers) -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(ENGINEERS)
def api_keys(request):
    """List keys with their last use; POST creates one. The new key is shown in this response
    only: it is neither stored (only its SHA-256 is) nor put in the session or a redirect URL."""
    created = None
    if request.method == "POST":
        try:
            created = api_key_create(name=request.POST.get("name", ""), created_by=request.user)
        except ValueError:
            flash.error(request, _("Give the key a name that says what it is for."))
        else:
            audit_record(
                actor=request.user,
                action="api_key.create",
                target_type="api_key",
                target_id=created.api_key.id,
                detail={"name": created.api_key.name, "prefix": created.api_key.prefix},
            )
    response = render(request, "accounts/api_keys.html", {"keys": api_keys_list(), "created": created})
    if created is not None:
        response["Cache-Control"] = "no-store"  # the page holds a secret: keep it out of caches
    return response


@require_POST
@role_required(ENGINEERS)
def api_key_revoke_view(request, api_key_id: int):
    api_key = get_object_or_404(ApiKey, id=api_key_id)
    if api_key_revoke(api_key_id=api_key.id):
        audit_record(
            actor=request.user,
            action="api_key.revoke",
            target_type="api_key",
            target_id=api_key.id,
            detail={"name": api_key.name, "prefix": api_key.prefix},
        )
        flash.success(
            request, _("Key %(name)s is revoked: the ingest API refuses it from now on.") % {"name": api_key.name}
        )
    else:
        flash.info(request, _("Key %(name)s was already revoked.") % {"name": api_key.name})
    return redirect("accounts:api_keys")
