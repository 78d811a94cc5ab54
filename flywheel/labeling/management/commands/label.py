import json

from django.core.management.base import BaseCommand, CommandError

from flywheel.labeling.services import labeling_foreground
from flywheel.llm.client import LLMError


class Command(BaseCommand):
    help = (
        "Label up to --limit sessions that cleaning made ready, in the foreground: with the LLM when "
        "OPENAI_BASE_URL is set, else (or with --offline) with the offline labeler. Prints a JSON summary last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="Most sessions to label (default 100).")
        parser.add_argument("--offline", action="store_true", help="Use the offline labeler even if an LLM is set.")

    def handle(self, *args, limit, offline, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        try:
            summary = labeling_foreground(
                limit=limit, offline=offline, progress=lambda done, total, note: self.stderr.write(note)
            )
        except LLMError as exc:
            raise CommandError(f"labeling stopped: {exc}") from exc
        self.stdout.write(json.dumps(summary))
