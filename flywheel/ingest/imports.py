"""File imports: stream a log file through the ingest service in batches, with progress."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import transaction

from flywheel.ingest.formats import FORMATS, RecordError, open_log_file, read_records, sniff_format
from flywheel.ingest.models import ImportFile
from flywheel.ingest.services import ingest_batch

BATCH_RECORDS = 200
MAX_REPORTED_ERRORS = 200

Progress = Callable[[int, int], None]


def resolve_format(path: str, fmt: str) -> str:
    if fmt == "auto":
        return sniff_format(path)
    if fmt not in FORMATS:
        raise RecordError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)} or auto")
    return fmt


def import_file_run(*, path: str, fmt: str, progress: Progress | None = None) -> dict:
    """Import a whole file. Good records are written, bad ones reported by line number."""
    fmt = resolve_format(path, fmt)
    total_bytes = os.path.getsize(path)
    report = {"format": fmt, "records": 0, "records_with_errors": 0, "errors": [], "counts": {}}
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
        bad_records = set()
        for key in batch:
            for item in getattr(result, key):
                if item["status"] == "error":
                    bad_records.add(owners[key][item["index"]])
                    _note_error(report, owners[key][item["index"]], f"{key[:-1]} {item.get('id')}: {item['error']}")
        report["records_with_errors"] += len(bad_records)
        pending.clear()

    with open(path, "rb") as raw, open_log_file(path) as stream:
        for record in read_records(stream, fmt):
            report["records"] += 1
            if record.error:
                report["records_with_errors"] += 1
                _note_error(report, record.number, record.error)
                continue
            pending.append(record)
            if len(pending) >= BATCH_RECORDS:
                flush()
                if progress:
                    progress(_position(stream, raw), total_bytes)
        if pending:
            flush()
    if progress:
        progress(total_bytes, total_bytes)
    report["error_count"] = report["records_with_errors"]
    return report


def _position(stream, raw) -> int:
    inner = getattr(stream, "fileobj", None)  # gzip: progress through the compressed file
    return (inner or stream).tell() if not raw.closed else 0


def _note_error(report: dict, number: int, error: str) -> None:
    if len(report["errors"]) < MAX_REPORTED_ERRORS:
        report["errors"].append({"line": number, "error": error})


def import_file_store(*, source, name: str) -> tuple[Path, str, int]:
    """Copy an upload (a file object) into the media directory, hashing it on the way."""
    uploads = Path(settings.FLYWHEEL_MEDIA_DIR) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in os.path.basename(name))[-100:] or "upload"
    target = uploads / f"{uuid.uuid4().hex}_{safe_name}"
    digest, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return target, digest.hexdigest(), size


def import_file_start(*, source, name: str, fmt: str, user=None) -> ImportFile:
    """Store an upload and queue its import job; the page follows the job's progress."""
    from flywheel.jobs.services import job_create

    path, sha, size = import_file_store(source=source, name=name)
    try:
        fmt = resolve_format(str(path), fmt)
    except RecordError:
        path.unlink(missing_ok=True)
        raise
    with transaction.atomic():
        import_file = ImportFile.objects.create(
            name=name[:255], path=str(path), sha256=sha, size_bytes=size, format=fmt,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        import_file.job = job_create(
            kind="ingest.import_file", payload={"import_file_id": import_file.id}, created_by=user, total=size
        )
        import_file.save(update_fields=["job"])
    return import_file

