"""`manage.py scrub_pii --input IN.jsonl --output OUT.jsonl`."""

from __future__ import annotations

import json

from django.core.management import call_command


def _run(tmp_path, raw: bytes) -> list[dict]:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(raw)
    call_command("scrub_pii", input=str(source), output=str(target))
    return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]


def test_each_line_gets_scrubbed_text_and_its_findings(tmp_path):
    rows = _run(tmp_path, '{"text": "邮箱 bob@example.com，电话 13812345678", "id": 7}\n'.encode())
    assert rows == [
        {
            "text": "邮箱 <EMAIL>，电话 <PHONE>",
            "id": 7,
            "pii": [{"type": "email", "start": 3, "end": 18}, {"type": "phone", "start": 22, "end": 33}],
        }
    ]


def test_a_bad_line_gets_an_error_row_and_its_neighbours_are_scrubbed(tmp_path):
    rows = _run(tmp_path, b'{"text": "a@example.com"}\nnot json\n{"no": "text"}\n\xff\xfe\n{"text": "fine"}\n')
    assert rows[0]["text"] == "<EMAIL>"
    assert rows[1] == {"line": 2, "error": "malformed JSON: Expecting value (column 1)"}
    assert rows[2]["error"] == 'expected an object with a "text" string'
    assert rows[3]["error"].startswith("not valid UTF-8")
    assert rows[4] == {"text": "fine", "pii": []}


def test_text_that_cannot_be_scrubbed_is_never_written(tmp_path, settings):
    settings.FLYWHEEL_PII_MAX_CHARS = 1000
    rows = _run(tmp_path, json.dumps({"text": "call 13812345678 " * 100}).encode() + b"\n")
    assert "text" not in rows[0] and "over the scrubbing limit" in rows[0]["error"]
