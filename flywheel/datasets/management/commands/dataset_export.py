import sys

from django.core.management.base import BaseCommand, CommandError

from flywheel.datasets.exports import FORMATS, SPLITS, export_lines
from flywheel.datasets.models import DatasetVersion


class Command(BaseCommand):
    help = "Stream a dataset version to a file or stdout, one JSON object a line."

    def add_arguments(self, parser):
        parser.add_argument("version", help="version id or content hash (a prefix is enough)")
        parser.add_argument("--format", default="openai", choices=sorted(FORMATS))
        parser.add_argument("--split", default="train", choices=SPLITS)
        parser.add_argument("--output", default="-", help="file to write; - for stdout")

    def handle(self, *args, version, format, split, output, **options):
        found = (
            DatasetVersion.objects.filter(id=int(version))
            if version.isdigit()
            else DatasetVersion.objects.filter(content_hash__startswith=version.lower())
        )
        matches = list(found[:2])
        if len(matches) != 1:
            raise CommandError(f"{'no' if not matches else 'more than one'} dataset version matches {version!r}")
        lines = 0
        handle = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
        try:
            for line in export_lines(version=matches[0], format_name=format, split=split):
                handle.write(line)
                lines += 1
        finally:
            if handle is not sys.stdout:
                handle.close()
        self.stderr.write(f"{lines} lines ({format}, {split}) from v{matches[0].id}")
