"""File imports: real hh-rlhf, OpenAI and ShareGPT files, bad lines reported by number,
re-imports that add nothing, and the upload page with its job."""

from __future__ import annotations

import gzip
import json

import pytest
from django.core.management import CommandError, call_command

from flywheel.i18n import shown
from flywheel.ingest.imports import import_file_run
from flywheel.ingest.models import ChatSession, Feedback, Message, PreferencePair


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records))
    return path


@pytest.mark.django_db
def test_the_real_hh_rlhf_sample_yields_2312_sessions_and_pairs_and_a_second_import_adds_nothing(shared_datasets):
    path = str(shared_datasets / "hh-rlhf-harmless-base-test.jsonl.gz")
    first = import_file_run(path=path, fmt="hh-rlhf")
    assert first["records"] == 2312 and first["error_count"] == 0
    assert ChatSession.objects.count() == 2312
    assert PreferencePair.objects.count() == 2312
    assert Feedback.objects.filter(rating=1).count() == 2312 and Feedback.objects.filter(rating=-1).count() == 2312
    messages = Message.objects.count()
    second = import_file_run(path=path, fmt="hh-rlhf")
    assert second["counts"].get("sessions_created", 0) == 0
    assert (ChatSession.objects.count(), PreferencePair.objects.count(), Message.objects.count()) == (
        2312,
        2312,
        messages,
    )


@pytest.mark.django_db
def test_an_hh_rlhf_pair_puts_the_rejected_answer_beside_the_chosen_one():
    from flywheel.ingest.formats import convert_hh_rlhf

    line = {"chosen": "\n\nHuman: hi\n\nAssistant: hello!", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}
    batch = convert_hh_rlhf(line, json.dumps(line).encode())
    messages = batch["sessions"][0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"]
    assert messages[2]["alternative_to"] == messages[1]["id"]
    assert {f["rating"] for f in batch["feedback"]} == {1, -1}


@pytest.mark.django_db
def test_bad_lines_are_reported_with_their_line_numbers_and_good_lines_are_kept(tmp_path):
    path = write_jsonl(
        tmp_path / "logs.jsonl",
        [
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "rating": 1}]},
            "{this is not json",
            {"messages": [{"role": "wizard", "content": "abracadabra"}]},
            {"no_messages": True},
            {"id": "kept", "messages": [{"role": "user", "content": "second good line"}]},
        ],
    )
    report = import_file_run(path=str(path), fmt="openai")
    assert report["records"] == 5
    assert {e["line"] for e in report["errors"]} == {2, 3, 4}
    assert "malformed JSON" in shown(next(e["error"] for e in report["errors"] if e["line"] == 2))
    assert "role" in shown(next(e["error"] for e in report["errors"] if e["line"] == 3))
    assert ChatSession.objects.count() == 2 and Feedback.objects.get().rating == 1


@pytest.mark.django_db
def test_invalid_utf8_on_a_line_is_reported_and_the_rest_imported(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "ok"}]}).encode()
    path.write_bytes(
        good
        + b"\n"
        + b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}\n'
        + good.replace(b"ok", b"ok2")
        + b"\n"
    )
    report = import_file_run(path=str(path), fmt="openai")
    assert [e["line"] for e in report["errors"]] == [2] and "UTF-8" in shown(report["errors"][0]["error"])
    assert ChatSession.objects.count() == 2


@pytest.mark.django_db
def test_a_sharegpt_json_array_is_streamed_and_speakers_are_mapped(tmp_path):
    records = [
        {
            "id": "sg-1",
            "conversations": [{"from": "human", "value": "你好"}, {"from": "gpt", "value": "你好！有什么可以帮你？"}],
        },
        {"conversations": [{"from": "alien", "value": "?"}]},
    ]
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(records, ensure_ascii=False))
    report = import_file_run(path=str(path), fmt="sharegpt")
    assert (
        report["records"] == 2 and report["errors"][0]["line"] == 2 and "speaker" in shown(report["errors"][0]["error"])
    )
    assert list(Message.objects.order_by("seq").values_list("role", "content")) == [
        ("user", "你好"),
        ("assistant", "你好！有什么可以帮你？"),
    ]


@pytest.mark.django_db
def test_a_gzipped_file_imports_like_the_plain_one(tmp_path):
    path = tmp_path / "logs.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"id": "gz", "messages": [{"role": "user", "content": "compressed"}]}) + "\n")
    assert import_file_run(path=str(path), fmt="auto")["format"] == "openai"
    assert ChatSession.objects.get().external_id == "gz"


@pytest.mark.django_db
def test_the_import_command_prints_its_report_last_and_refuses_a_missing_file(tmp_path, capsys):
    path = write_jsonl(tmp_path / "a.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    call_command("import_logs", str(path), "--format", "openai", "--quiet")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["records"] == 1
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_logs", str(tmp_path / "missing.jsonl"))


@pytest.mark.django_db
def test_a_file_whose_format_cannot_be_detected_gets_a_clear_error(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"whatever": 1}])
    with pytest.raises(CommandError, match="cannot tell the file's format"):
        call_command("import_logs", str(path))


@pytest.mark.worker
def test_an_upload_runs_as_a_job_on_a_real_worker_and_reports_its_progress(client, engineer, celery_worker, tmp_path):
    from flywheel.ingest.models import ImportFile
    from tests.support.waiting import wait_for

    path = write_jsonl(
        tmp_path / "upload.jsonl",
        [{"id": f"up-{i}", "messages": [{"role": "user", "content": f"question {i}"}]} for i in range(30)] + ["{bad"],
    )
    client.force_login(engineer)
    with open(path, "rb") as handle:
        response = client.post("/imports/", {"file": handle, "format": "openai"})
    assert response.status_code == 302
    import_file = ImportFile.objects.get()
    job = wait_for(
        lambda: (j := type(import_file.job).objects.get(id=import_file.job_id)).is_finished and j,
        timeout=60,
        what="the import job",
    )
    assert job.status == "succeeded" and job.progress_percent == 100
    import_file.refresh_from_db()
    assert import_file.report["error_count"] == 1 and import_file.report["errors"][0]["line"] == 31
    assert ChatSession.objects.count() == 30
    page = client.get(f"/imports/{import_file.id}/")
    assert b"line" in page.content.lower() and page.status_code == 200


def test_a_refused_item_of_an_imported_line_reads_in_each_readers_language(db, tmp_path):
    from django.utils import translation

    path = tmp_path / "log.jsonl"
    line = {"sessions": [{"id": "s1", "messages": [{"id": "m1", "role": "robot", "content": "hi"}]}]}
    path.write_text(json.dumps(line) + "\n")
    report = import_file_run(path=str(path), fmt="sessions")
    (error,) = report["errors"]
    with translation.override("zh-hans"):
        assert shown(error["error"]) == "会话 s1：messages.0.role：必须是 'system', 'user', 'assistant', 'tool' 之一"
    with translation.override("en"):
        assert (
            shown(error["error"]) == "session s1: messages.0.role: must be one of 'system', 'user', 'assistant', 'tool'"
        )
