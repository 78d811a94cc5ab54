"""The import page tells the truth: an import whose every line failed says "failed", progress
reads in bytes with units, and a finished import links to the sessions it wrote and to the
pipeline job that runs next (which /jobs/ lists too)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from flywheel.ingest.imports import import_outcome
from flywheel.ingest.models import ImportFile
from flywheel.jobs.models import Job


def _jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("report", "outcome"),
    [
        ({"records": 3, "records_with_errors": 3, "error_count": 3}, "failed"),
        ({"records": 0, "records_with_errors": 0, "error_count": 1}, "failed"),
        ({"records": 0, "records_with_errors": 0, "error_count": 0}, "failed"),
        ({"records": 3, "records_with_errors": 1, "error_count": 1}, "partial"),
        ({"records": 3, "records_with_errors": 0, "error_count": 1}, "partial"),
        ({"records": 3, "records_with_errors": 0, "error_count": 0}, "succeeded"),
    ],
)
def test_an_import_succeeds_only_when_something_was_imported(report, outcome):
    assert import_outcome(report) == outcome


def test_a_running_import_shows_its_progress_in_bytes_with_units(db, engineer):
    job = Job.objects.create(
        kind="ingest.import_file", status="running", progress_done=1536, progress_total=3 * 1024 * 1024
    )
    job.progress_note = "12 records, 0 with errors"
    job.save()
    item = ImportFile.objects.create(
        name="a.jsonl", path="/x", sha256="0" * 64, size_bytes=3 * 1024 * 1024, format="openai", job=job
    )
    client = Client()
    client.force_login(engineer)
    body = client.get(f"/imports/{item.id}/status/").content.decode()
    assert 'data-outcome="running"' in body and "hx-trigger" in body
    assert "1.5\xa0KB of 3.0\xa0MB read" in body and "12 records, 0 with errors" in body


@pytest.mark.browser
@pytest.mark.worker
def test_an_import_whose_every_line_failed_says_failed(page, log_in, engineer, celery_worker, tmp_path):
    path = _jsonl(tmp_path / "broken.jsonl", ["{not json", {"messages": "not a list"}, '{"id": 3}'])
    log_in(page, engineer)
    page.goto("/imports/")
    page.set_input_files("input[name=file]", str(path))
    page.select_option("select[name=format]", "openai")
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("#import-status[data-outcome='failed']", timeout=60_000)
    outcome = page.locator("#import-outcome").inner_text()
    assert "Failed" in outcome and "all 3 records had errors" in outcome
    assert "succeeded" not in page.locator("#import-status").inner_text().lower()
    assert page.locator("#import-errors tbody tr").count() == 3
    page.goto("/imports/")
    assert page.locator("table .status-failed").first.inner_text() == "failed"
    assert page.problems == []


@pytest.mark.browser
@pytest.mark.worker
def test_a_finished_import_links_to_its_sessions_and_its_follow_on_job(page, log_in, engineer, celery_worker, tmp_path):
    records = [{"id": f"imp-{i}", "messages": [{"role": "user", "content": f"你好 {i}"}]} for i in range(3)]
    path = _jsonl(tmp_path / "good.jsonl", records)
    log_in(page, engineer)
    page.goto("/imports/")
    page.set_input_files("input[name=file]", str(path))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("#import-status[data-outcome='succeeded']", timeout=60_000)
    links = page.locator("#import-sessions a")
    assert links.count() == 3
    follow_on = page.locator("#import-follow-on a")
    assert follow_on.count() == 1 and "pipeline.new_data" in follow_on.inner_text()
    job_url = follow_on.get_attribute("href")
    page.goto("/jobs/")
    assert page.locator(f"a[href='{job_url}']").count() == 1, "the follow-on job is listed on /jobs/"
    page.goto("/imports/")
    page.locator("table a", has_text="good.jsonl").click()
    page.locator("#import-sessions a", has_text="imp-1").click()
    page.wait_for_url("**/sessions/imp-1/")
    assert "你好 1" in page.content()
    assert page.problems == []


@pytest.mark.django_db
def test_a_second_run_of_the_same_file_lists_the_same_sessions_and_wrote_nothing(tmp_path):
    from flywheel.ingest.imports import import_file_run, import_wrote_something

    path = _jsonl(
        tmp_path / "again.jsonl",
        [{"id": f"again-{i}", "messages": [{"role": "user", "content": "hi"}]} for i in range(3)],
    )
    first = import_file_run(path=str(path), fmt="openai")
    second = import_file_run(path=str(path), fmt="openai")  # as after a killed worker, or a re-upload
    assert first["sessions"] == second["sessions"] == ["again-0", "again-1", "again-2"]
    assert import_wrote_something(first) and not import_wrote_something(second)
