import json

from django.core.management.base import BaseCommand

from flywheel.cleaning.services import cleaning_rerun


class Command(BaseCommand):
    help = (
        "Re-clean stored sessions (of one app, or all) whose verdict came from other rules, in the "
        "foreground. Sessions already cleaned under the current rules are skipped. Prints a JSON report last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app", default=None, help="Only this app's sessions (default: every app).")

    def handle(self, *args, app, **options):
        def progress(done, total, note):
            self.stderr.write(f"{done}/{total or '?'} {note}")

        self.stdout.write(json.dumps(cleaning_rerun(app=app, progress=progress)))
