import json

from django.core.management.base import BaseCommand, CommandError

from flywheel.pipeline.registry import STAGES
from flywheel.pipeline.services import pipeline_run


class Command(BaseCommand):
    help = "Run the processing stages over pending data in the foreground; prints a JSON report last."

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="*", help="Stage names to run (default: all).")

    def handle(self, *args, only, **options):
        unknown = set(only or ()) - set(STAGES)
        if unknown:
            raise CommandError(f"unknown stages: {', '.join(sorted(unknown))}; known: {', '.join(sorted(STAGES))}")
        report = pipeline_run(
            only=set(only) if only else None,
            progress=lambda done, total, note: self.stderr.write(f"[{done + 1}/{total}] {note}"),
        )
        self.stdout.write(json.dumps(report, default=str))
