"""Limits on what an upload or an import may make Flywheel hold: the upload cap, a gzip bomb,
an endless line, an oversized or deeply nested JSON item. Each is refused with its own error,
the records before it are kept, and memory stays bounded."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from flywheel.i18n import shown
from flywheel.ingest.imports import UploadTooLarge, import_file_run, import_file_store
from flywheel.ingest.models import ChatSession, ImportFile
from flywheel.jobs.models import Job

MB = 1024 * 1024


def openai_line(sid: str) -> bytes:
    return json.dumps({"id": sid, "messages": [{"role": "user", "content": f"question {sid}"}]}).encode() + b"\n"


def peak_rss_kb() -> int:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current RSS


def uploads_dir(settings) -> Path:
    return Path(settings.FLYWHEEL_MEDIA_DIR) / "uploads"


def stored_uploads(settings) -> list[Path]:
    directory = uploads_dir(settings)
    return list(directory.iterdir()) if directory.exists() else []


# --- the upload cap ------------------------------------------------------------------------------


def test_an_upload_over_the_cap_is_refused_with_a_message_and_nothing_is_stored(client, engineer, settings):
    settings.FLYWHEEL_UPLOAD_MAX_BYTES = 1024
    before = stored_uploads(settings)
    client.force_login(engineer)
    upload = SimpleUploadedFile("big.jsonl", openai_line("x") * (MB // 80), content_type="application/jsonl")
    response = client.post("/imports/", {"file": upload, "format": "openai"}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200 and "big.jsonl is larger than the upload limit" in page
    assert "nothing was stored" in page
    assert not ImportFile.objects.exists() and not Job.objects.exists()
    assert stored_uploads(settings) == before


def test_an_upload_under_the_cap_is_accepted(client, engineer, settings):
    settings.FLYWHEEL_UPLOAD_MAX_BYTES = 4096
    client.force_login(engineer)
    upload = SimpleUploadedFile("small.jsonl", openai_line("small"), content_type="application/jsonl")
    assert client.post("/imports/", {"file": upload, "format": "openai"}).status_code == 302
    assert ImportFile.objects.get().size_bytes == len(openai_line("small"))


@pytest.mark.django_db
def test_the_import_service_refuses_a_file_over_the_cap_and_keeps_no_partial_copy(settings):
    settings.FLYWHEEL_UPLOAD_MAX_BYTES = 1024
    before = stored_uploads(settings)
    with pytest.raises(UploadTooLarge, match="upload limit of 1024 bytes"):
        import_file_store(source=io.BytesIO(b"x" * 3 * MB), name="big.jsonl")
    assert stored_uploads(settings) == before


@pytest.mark.django_db
def test_a_stored_upload_is_readable_by_its_owner_only(settings):
    path, _, size = import_file_store(source=io.BytesIO(openai_line("a")), name="a.jsonl")
    assert size == len(openai_line("a")) and path.stat().st_mode & 0o777 == 0o600


# --- a gzip bomb and an endless line -------------------------------------------------------------


def write_gzip_of_one_endless_line(path: Path, megabytes: int) -> Path:
    """A small gzip that expands to one line of `megabytes` MB, written a megabyte at a time."""
    chunk = b" " * MB
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(b'{"messages": "')
        for _ in range(megabytes):
            out.write(chunk)
    return path


@pytest.mark.django_db
def test_a_gzip_bomb_is_refused_with_a_per_file_error_and_memory_stays_bounded(tmp_path, settings):
    bomb = write_gzip_of_one_endless_line(tmp_path / "bomb.jsonl.gz", 200)
    assert bomb.stat().st_size < 1 * MB
    settings.FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES = 64 * MB
    reset_peak_rss()
    start = peak_rss_kb()
    report = import_file_run(path=str(bomb), fmt="openai")
    growth_mb = (peak_rss_kb() - start) / 1024
    assert "more than 67108864 bytes once decompressed" in shown(report["file_error"])
    assert shown(report["file_error"]).startswith("line 1:") and report["errors"][0]["line"] == 1
    assert report["records"] == 0 and not ChatSession.objects.exists()
    # The line is 16 MB at most in memory (FLYWHEEL_IMPORT_MAX_LINE_BYTES), never 200 MB.
    assert growth_mb < 60, f"the import grew the process by {growth_mb:.0f} MB"


@pytest.mark.django_db
def test_records_before_the_decompressed_limit_are_kept(tmp_path, settings):
    settings.FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES = 4096
    path = tmp_path / "many.jsonl.gz"
    with gzip.open(path, "wb") as out:
        for number in range(1000):
            out.write(openai_line(f"s{number}"))
    report = import_file_run(path=str(path), fmt="openai")
    assert report["file_error"] and 0 < report["records"] < 1000
    assert ChatSession.objects.count() == report["records"]


@pytest.mark.django_db
def test_an_over_long_line_is_refused_by_its_number_and_the_lines_around_it_are_kept(tmp_path, settings):
    settings.FLYWHEEL_IMPORT_MAX_LINE_BYTES = 1024
    path = tmp_path / "long.jsonl"
    long_line = json.dumps({"id": "long", "messages": [{"role": "user", "content": "y" * 5000}]}).encode() + b"\n"
    path.write_bytes(openai_line("before") + long_line + openai_line("after"))
    report = import_file_run(path=str(path), fmt="openai")
    assert [(e["line"], shown(e["error"])) for e in report["errors"]] == [
        (2, "the line is longer than 1024 bytes (FLYWHEEL_IMPORT_MAX_LINE_BYTES)")
    ]
    assert report["file_error"] == "" and report["error_count"] == 1
    assert set(ChatSession.objects.values_list("external_id", flat=True)) == {"before", "after"}


@pytest.mark.django_db
def test_a_truncated_gzip_stops_with_a_file_error_instead_of_failing_the_job(tmp_path):
    whole = gzip.compress(b"".join(openai_line(f"t{n}") for n in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    report = import_file_run(path=str(path), fmt="openai")
    assert "cannot be decompressed" in shown(report["file_error"])


# --- JSON arrays and nesting ---------------------------------------------------------------------


def sharegpt(sid: str, text: str = "hello") -> dict:
    return {"id": sid, "conversations": [{"from": "human", "value": text}, {"from": "gpt", "value": "hi"}]}


@pytest.mark.django_db
def test_an_oversized_json_array_item_stops_the_import_at_its_number(tmp_path, settings):
    settings.FLYWHEEL_IMPORT_MAX_ITEM_BYTES = 1024
    path = tmp_path / "array.json"
    items = [sharegpt("one"), sharegpt("two"), sharegpt("huge", "z" * 400_000), sharegpt("four")]
    path.write_text(json.dumps(items))
    report = import_file_run(path=str(path), fmt="sharegpt")
    assert report["errors"][-1]["line"] == 3 and "item 3 is larger than 1024 bytes" in shown(
        report["errors"][-1]["error"]
    )
    assert shown(report["file_error"]).startswith("line 3:") and report["records"] == 2
    assert set(ChatSession.objects.values_list("external_id", flat=True)) == {"one", "two"}


@pytest.mark.django_db
def test_a_deeply_nested_json_array_item_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" + json.dumps(sharegpt("fine")) + "," + "[" * 100_000 + "]" * 100_000 + "]")
    reset_peak_rss()
    start = peak_rss_kb()
    report = import_file_run(path=str(path), fmt="sharegpt")
    growth_mb = (peak_rss_kb() - start) / 1024
    assert "item 2 is nested deeper than 64 levels" in shown(report["file_error"])
    # ijson.parse alone spells out a path per event: 64 KB of `[` would cost it gigabytes.
    assert growth_mb < 60, f"the import grew the process by {growth_mb:.0f} MB"
    assert list(ChatSession.objects.values_list("external_id", flat=True)) == ["fine"]


@pytest.mark.django_db
def test_a_deeply_nested_jsonl_line_is_refused_by_its_number(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_bytes(openai_line("before") + b"[" * 100_000 + b"]" * 100_000 + b"\n" + openai_line("after"))
    report = import_file_run(path=str(path), fmt="openai")
    assert [(e["line"], shown(e["error"])) for e in report["errors"]] == [(2, "the JSON is nested too deeply")]
    assert ChatSession.objects.count() == 2


@pytest.mark.django_db
def test_session_metadata_nested_past_the_limit_is_refused_for_that_session_only(tmp_path, settings):
    settings.FLYWHEEL_JSON_MAX_DEPTH = 8
    deep = {"level": 1}
    for level in range(2, 12):
        deep = {"level": level, "inner": deep}
    path = tmp_path / "meta.jsonl"
    line = json.dumps({"id": "deep", "metadata": deep, "messages": [{"role": "user", "content": "hi"}]}).encode()
    path.write_bytes(line + b"\n" + openai_line("flat"))
    report = import_file_run(path=str(path), fmt="openai")
    assert report["errors"][0]["line"] == 1 and "nests deeper than 8 levels" in shown(report["errors"][0]["error"])
    assert list(ChatSession.objects.values_list("external_id", flat=True)) == ["flat"]
