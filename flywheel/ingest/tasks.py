from flywheel.ingest.imports import import_file_run
from flywheel.ingest.models import ImportFile
from flywheel.jobs.services import JobContext


def import_file(ctx: JobContext) -> dict:
    import_file = ImportFile.objects.get(id=ctx.payload["import_file_id"])
    # Re-running after a killed worker re-reads the file from the start: every write is keyed
    # by derived ids, so the records already written are skipped, none doubled.
    report = import_file_run(path=import_file.path, fmt=import_file.format, progress=ctx.progress)
    ImportFile.objects.filter(id=import_file.id).update(report=report)
    return {key: report[key] for key in ("format", "records", "error_count", "counts", "file_error")}
