import json

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from flywheel.dashboard.services import stats_rollup
from flywheel.demo.services import demo_logs_ingest, demo_users_ensure
from flywheel.pipeline.services import pipeline_run


class Command(BaseCommand):
    help = (
        "Set up the embedded demo and run the loop on generated logs: migrate, create a user per "
        "role, ingest demo data, run every pipeline stage, then serve the UI (unless --no-serve). "
        "Prints a one-line JSON summary last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--serve", dest="serve", action="store_true", default=True)
        parser.add_argument("--no-serve", dest="serve", action="store_false")
        parser.add_argument("--sessions", type=int, default=300)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, serve, sessions, seed, addr, **options):
        call_command("migrate", interactive=False, verbosity=0)
        logins = demo_users_ensure()
        ingested = demo_logs_ingest(seed=seed, sessions=sessions)
        self.stderr.write(f"ingested {ingested['sessions']} demo sessions")
        stages = pipeline_run(on_stage=lambda i, n, name: self.stderr.write(f"[{i + 1}/{n}] {name}"))
        stats_rollup()
        self.stderr.write("\nDemo logins (username / password / role):")
        for username, password, role in logins:
            self.stderr.write(f"  {username:<11} {password:<16} {role}")
        summary = {"sessions": ingested["sessions"], "stages": stages, "database": str(settings.DATABASES["default"]["NAME"])}
        self.stdout.write(json.dumps(summary, default=str))
        if serve:
            self.stderr.write(f"\nServing Flywheel on http://{addr}/  (Ctrl-C to stop)")
            call_command("runserver", addr, use_reloader=False)
