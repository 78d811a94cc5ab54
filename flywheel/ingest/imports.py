"""File imports: stream a log file through the ingest service in batches, with progress."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from flywheel.i18n import Text, stored
from flywheel.ingest.formats import FORMATS, ReadLimits, RecordError, open_log_file, read_records, sniff_format
from flywheel.ingest.models import ImportFile
from flywheel.ingest.services import APPENDED, CREATED, ERROR, ingest_batch
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.services import job_create

BATCH_RECORDS = 200
MAX_REPORTED_ERRORS = 200
MAX_LISTED_SESSIONS = 100


class UploadTooLarge(ValueError):
    """An upload over FLYWHEEL_UPLOAD_MAX_BYTES; nothing of it is kept."""


def read_limits() -> ReadLimits:
    return ReadLimits(
        decompressed_bytes=settings.FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES,
        line_bytes=settings.FLYWHEEL_IMPORT_MAX_LINE_BYTES,
        item_bytes=settings.FLYWHEEL_IMPORT_MAX_ITEM_BYTES,
        json_depth=settings.FLYWHEEL_JSON_MAX_DEPTH,
    )


def resolve_format(path: str, fmt: str) -> str:
    if fmt == "auto":
        return sniff_format(path)
    if fmt not in FORMATS:
        raise RecordError(
            Text("unknown format %(format)r; use one of %(names)s or auto", format=fmt, names=", ".join(FORMATS))
        )
    return fmt


def import_file_run(*, path: str, fmt: str, progress: Progress = progress_ignored) -> dict:
    """Import a whole file. Good records are written, bad ones reported by line number. A file
    that cannot be read to its end (over a limit of `read_limits()`, or broken) keeps the records
    before that point and says why in `file_error`."""
    fmt = resolve_format(path, fmt)
    total_bytes = os.path.getsize(path)
    report = {
        "format": fmt,
        "records": 0,
        "records_with_errors": 0,
        "errors": [],
        "counts": {},
        "file_error": "",
        # The sessions of the file's records (the first MAX_LISTED_SESSIONS), whether this run
        # wrote them or found them stored: a run resumed after a killed worker lists them all.
        "sessions": [],
    }
    pending: list = []

    def flush():
        batch = {"sessions": [], "feedback": [], "pairs": []}
        owners = {key: [] for key in batch}  # which record each item came from
        for record in pending:
            for key in batch:
                items = record.batch.get(key, [])
                batch[key].extend(items)
                owners[key].extend([record.number] * len(items))
        result = ingest_batch(**batch, source=f"import:{fmt}")
        for key, value in result.counts().items():
            report["counts"][key] = report["counts"].get(key, 0) + value
        for item in result.sessions:
            if item["status"] != ERROR and len(report["sessions"]) < MAX_LISTED_SESSIONS:
                report["sessions"].append(item["id"])
        bad_records = set()
        for key in batch:
            for item in getattr(result, key):
                if item["status"] == "error":
                    bad_records.add(owners[key][item["index"]])
                    _note_error(report, owners[key][item["index"]], _item_error(key, item))
        report["records_with_errors"] += len(bad_records)
        pending.clear()

    with open(path, "rb") as raw, open_log_file(path) as stream:
        for record in read_records(stream, fmt, read_limits()):
            if record.stops:
                report["file_error"] = stored(Text("line %(line)s: %(error)s", line=record.number, error=record.error))
                _note_error(report, record.number, record.error)
                break
            report["records"] += 1
            if record.error:
                report["records_with_errors"] += 1
                _note_error(report, record.number, record.error)
                continue
            pending.append(record)
            if len(pending) >= BATCH_RECORDS:
                flush()
                progress(_position(stream, raw), total_bytes, _records_note(report))
        if pending:
            flush()
    progress(total_bytes, total_bytes, _records_note(report))
    report["error_count"] = report["records_with_errors"] + bool(report["file_error"])
    return report


def import_file_outcome(import_file: ImportFile) -> str:
    """ "running", or how the import ended: "failed", "partial" or "succeeded"."""
    job = import_file.job
    if job is not None and not job.is_finished:
        return "running"
    if job is not None and job.status != job.Status.SUCCEEDED:
        return "failed"  # the job itself failed or was cancelled: its page says why
    return import_outcome(import_file.report) if import_file.report else "failed"


def import_outcome(report: dict) -> str:
    """ "failed" when nothing could be imported (every record had an error, or the file could not
    be read at all), "partial" when some records or the file's end were lost, else "succeeded"."""
    good = report.get("records", 0) - report.get("records_with_errors", 0)
    if good <= 0:
        return "failed"
    return "partial" if report.get("error_count") else "succeeded"


def import_wrote_something(report: dict) -> bool:
    return any(count for key, count in report["counts"].items() if key.endswith((f"_{CREATED}", f"_{APPENDED}")))


def _records_note(report: dict) -> Text:
    return Text(
        "%(records)s records, %(errors)s with errors",
        records=report["records"],
        errors=report["records_with_errors"],
    )


def _position(stream, raw) -> int:
    inner = getattr(stream, "fileobj", None)  # gzip: progress through the compressed file
    return (inner or stream).tell() if not raw.closed else 0


# A refused item of a record, named by its list and id: `session s1: messages.0.role: ...`.
_ITEM_ERRORS = {
    "sessions": Text("session %(id)s: %(error)s"),
    "feedback": Text("feedback %(id)s: %(error)s"),
    "pairs": Text("pair %(id)s: %(error)s"),
}


def _item_error(key: str, item: dict) -> Text:
    return Text(_ITEM_ERRORS[key].msgid, id=item.get("id"), error=item["error"])


def _note_error(report: dict, number: int, error: Text | str) -> None:
    """The report is stored (ImportFile.report): a Text goes in untranslated, so the import page
    shows it in each reader's language (flywheel.i18n)."""
    if len(report["errors"]) < MAX_REPORTED_ERRORS:
        report["errors"].append({"line": number, "error": stored(error)})


def import_file_store(*, source, name: str) -> tuple[Path, str, int]:
    """Copy an upload (a file object) into the media directory, hashing it on the way. Over
    FLYWHEEL_UPLOAD_MAX_BYTES: UploadTooLarge, and the partial copy is deleted. Uploads hold
    chat logs: the file is readable by this user only."""
    limit = settings.FLYWHEEL_UPLOAD_MAX_BYTES
    uploads = Path(settings.FLYWHEEL_MEDIA_DIR) / "uploads"
    uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in os.path.basename(name))[-100:] or "upload"
    target = uploads / f"{uuid.uuid4().hex}_{safe_name}"
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(
                        f"the file is larger than the upload limit of {limit} bytes "
                        "(FLYWHEEL_UPLOAD_MAX_BYTES); nothing was stored"
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, digest.hexdigest(), size


def import_file_start(*, source, name: str, fmt: str, user=None) -> ImportFile:
    """Store an upload and queue its import job; the page follows the job's progress."""
    path, sha, size = import_file_store(source=source, name=name)
    try:
        fmt = resolve_format(str(path), fmt)
    except RecordError:
        path.unlink(missing_ok=True)
        raise
    with transaction.atomic():
        import_file = ImportFile.objects.create(
            name=name[:255],
            path=str(path),
            sha256=sha,
            size_bytes=size,
            format=fmt,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        import_file.job = job_create(
            kind="ingest.import_file", payload={"import_file_id": import_file.id}, created_by=user, total=size
        )
        import_file.save(update_fields=["job"])
    return import_file
