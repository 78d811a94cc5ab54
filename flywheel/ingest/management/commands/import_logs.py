import hashlib
import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from flywheel.i18n import shown
from flywheel.ingest.formats import FORMATS, RecordError
from flywheel.ingest.imports import import_file_run, resolve_format
from flywheel.ingest.models import ImportFile


class Command(BaseCommand):
    help = (
        "Import a log file (JSONL or a JSON array, optionally gzipped). Bad records are reported "
        "with their line numbers and the good ones kept; importing the same file again adds nothing. "
        "Prints a JSON report as the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", default="auto", choices=FORMATS + ("auto",))
        parser.add_argument("--quiet", action="store_true", help="No progress lines on stderr.")

    def handle(self, *args, file, format, quiet, **options):
        if not os.path.isfile(file):
            raise CommandError(f"no such file: {file}")
        try:
            fmt = resolve_format(file, format)
        except RecordError as exc:
            raise CommandError(str(exc)) from exc

        def progress(done: int, total: int | None, note: str) -> None:
            if not quiet:
                sys.stderr.write(f"\r{file}: {100 * done // max(total or 0, 1):3d}% ({note})")
                sys.stderr.flush()

        report = import_file_run(path=file, fmt=fmt, progress=progress)
        if not quiet:
            sys.stderr.write("\n")
            for error in report["errors"][:20]:
                sys.stderr.write(f"line {error['line']}: {shown(error['error'])}\n")
            if report["file_error"]:
                sys.stderr.write(f"the file was not read to its end: {shown(report['file_error'])}\n")
        ImportFile.objects.create(
            name=os.path.basename(file),
            path=os.path.abspath(file),
            sha256=_sha256(file),
            size_bytes=os.path.getsize(file),
            format=fmt,
            report=report,
        )
        self.stdout.write(
            json.dumps(
                {
                    **{k: report[k] for k in ("format", "records", "error_count", "counts")},
                    "file_error": shown(report["file_error"]),
                }
            )
        )


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
