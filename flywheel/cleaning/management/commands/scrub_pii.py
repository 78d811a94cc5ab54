import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from flywheel.cleaning.pii import scrub_text


class Command(BaseCommand):
    help = (
        'Scrub personal data from a JSONL file of {"text": ...} lines. Each output line is the input '
        'object with "text" scrubbed and a "pii" list of findings (type, start, end in the original). '
        'A line that cannot be read or scrubbed is written as {"line": N, "error": ...} with no text, '
        "so output lines stay aligned with input lines and nothing unscrubbed leaks."
    )

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, help="JSONL file to read ('-' for stdin).")
        parser.add_argument("--output", required=True, help="JSONL file to write ('-' for stdout).")

    def handle(self, *args, input, output, **options):
        try:
            source = sys.stdin.buffer if input == "-" else open(input, "rb")
        except OSError as exc:
            raise CommandError(f"cannot read {input}: {exc}") from exc
        try:
            target = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc}") from exc
        counts = {"lines": 0, "scrubbed": 0, "findings": 0, "errors": 0}
        try:
            for number, line in enumerate(_lines(source), start=1):
                if isinstance(line, Exception):
                    row = {"line": number, "error": str(line)}
                elif not line.strip():
                    continue
                else:
                    row = _scrub_line(number, line)
                counts["lines"] += 1
                if "error" in row:
                    counts["errors"] += 1
                    self.stderr.write(f"line {number}: {row['error']}")
                else:
                    counts["scrubbed"] += 1
                    counts["findings"] += len(row["pii"])
                target.write(json.dumps(row, ensure_ascii=False) + "\n")
        finally:
            if target is not sys.stdout:
                target.close()
            if source is not sys.stdin.buffer:
                source.close()
        self.stderr.write(json.dumps(counts))


def _lines(source):
    """Decoded lines; a line that is not valid UTF-8 becomes an error, not the end of the file."""
    for raw in source:
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ValueError(f"not valid UTF-8 at byte {exc.start}")


def _scrub_line(number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"line": number, "error": f"malformed JSON: {exc.msg} (column {exc.colno})"}
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return {"line": number, "error": 'expected an object with a "text" string'}
    result = scrub_text(record["text"], max_chars=settings.FLYWHEEL_PII_MAX_CHARS)
    if not result.ok:
        return {"line": number, "error": f"not scrubbed: {result.error}"}
    return {**record, "text": result.text, "pii": result.findings}
