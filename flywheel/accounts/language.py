"""Each person's page language: chosen with the switcher, kept on their profile, applied on login.

Django's LocaleMiddleware picks the language of a request from the language cookie, else from
the browser's Accept-Language, else settings.LANGUAGE_CODE. The switcher and the login set that
cookie from the person's saved choice, so the choice follows them to any browser they log in
from, and no request pays a database query to find it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse

from flywheel.accounts.models import Profile

LANGUAGE_CODES = frozenset(code for code, _ in settings.LANGUAGES)


def profile_language_set(*, user, language: str) -> Profile:
    """Saves the person's language ("" goes back to following their browser)."""
    if language and language not in LANGUAGE_CODES:
        raise ValueError(f"unknown language {language!r}: one of {', '.join(sorted(LANGUAGE_CODES))}")
    profile, _ = Profile.objects.update_or_create(user=user, defaults={"language": language})
    return profile


def profile_language(*, user) -> str:
    """The person's saved language, "" when they never chose one."""
    return Profile.objects.filter(user=user).values_list("language", flat=True).first() or ""


def language_cookie_apply(response: HttpResponse, language: str) -> HttpResponse:
    """Makes the browser ask for `language` from now on ("": forget it, follow Accept-Language)."""
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    else:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    return response
