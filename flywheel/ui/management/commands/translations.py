"""`manage.py translations`: gathers every marked string into the catalogs and compiles them.

After it, translate the new (empty) entries in flywheel/locale/<locale>/LC_MESSAGES/*.po, then
run it again to compile. Needs GNU gettext (`apt-get install gettext`). docs/engineers.md says
more; tests/flywheel/ui/test_translations.py fails when this was not run.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.management.commands import makemessages
from django.utils.translation import to_locale

# Where marked strings are not: other people's code, our tests and the torch-free trainer
# (which has no Django and shows no page).
IGNORED = [
    "node_modules/*",
    ".venv/*",
    "var/*",
    "staticfiles/*",
    "tests/*",
    "bench/*",
    "training/*",
    "docs/*",
    "*/migrations/*",
]
# Source locations by file only: a line number would change each catalog on every edit.
MAKEMESSAGES_OPTIONS = {"ignore_patterns": IGNORED, "no_obsolete": True, "add_location": "file", "verbosity": 0}
DOMAINS = ("django", "djangojs")


class _MakeMessages(makemessages.Command):
    # A new string starts empty, never as a guess from a similar one: a guess would ship as a
    # fuzzy entry nobody looked at.
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]
    # Text("... %(name)s", name=...) marks a message that is translated when it is read, not when
    # it is written (flywheel/i18n.py): its first argument is a message id like gettext's.
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=Text"]


def translated_locales() -> list[str]:
    """zh_Hans and the like: every language but the one the source strings are written in."""
    return [to_locale(code) for code, _ in settings.LANGUAGES if code != "en"]


class Command(BaseCommand):
    help = "Gather marked strings into flywheel/locale/*/LC_MESSAGES/*.po, then compile the .mo files."

    def add_arguments(self, parser):
        parser.add_argument("--no-compile", action="store_true", help="only gather the strings")

    def handle(self, *args, no_compile=False, **options):
        locales = translated_locales()
        for domain in DOMAINS:
            call_command(_MakeMessages(), locale=locales, domain=domain, **MAKEMESSAGES_OPTIONS)
        if not no_compile:
            call_command("compilemessages", locale=locales, ignore_patterns=IGNORED, verbosity=0)
        self.stdout.write(f"catalogs of {', '.join(locales)} in {settings.LOCALE_PATHS[0]}")
