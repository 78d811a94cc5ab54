from flywheel.i18n import shown
from flywheel.ingest.imports import import_file_run, import_wrote_something
from flywheel.ingest.models import ImportFile
from flywheel.jobs.services import JobContext
from flywheel.pipeline.services import pipeline_run_for_data_so_far


def import_file(ctx: JobContext) -> dict:
    import_file = ImportFile.objects.get(id=ctx.payload["import_file_id"])
    # Re-running after a killed worker re-reads the file from the start: every write is keyed
    # by derived ids, so the records already written are skipped, none doubled.
    report = import_file_run(path=import_file.path, fmt=import_file.format, progress=ctx.progress)
    if import_wrote_something(report):
        # The pipeline run that cleans and labels what was imported: shown on the import's page.
        report["follow_on_jobs"] = [pipeline_run_for_data_so_far().id]
    ImportFile.objects.filter(id=import_file.id).update(report=report)
    # The job's result is a summary for programs and logs: the file's error in English, as text.
    return {
        **{key: report[key] for key in ("format", "records", "error_count", "counts")},
        "file_error": shown(report["file_error"]),
    }
