import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.flywheel.continuity.conftest import conversation

pytestmark = pytest.mark.django_db


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_each_conversation_comes_back_with_one_value_per_user_turn(tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(
        source,
        [
            json.dumps(
                {
                    "id": "a",
                    "messages": conversation(
                        "你看过《霸王别姬》吗？", "看过，是陈凯歌导演的。", "主演是谁？", "张国荣和张丰毅。"
                    ),
                },
                ensure_ascii=False,
            ),
            json.dumps(
                {"id": "b", "messages": [{"role": "system", "content": "be brief"}] + conversation("Hi", "Hello!")}
            ),
        ],
    )
    call_command("continuity_predict", "--input", str(source), "--output", str(target))
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["continuity"][0] is None and 0 <= rows[0]["continuity"][1] <= 1
    assert rows[1]["continuity"] == [None]


def test_content_given_as_parts_is_read_as_text(tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "What is Python?"}]},
        {"role": "assistant", "content": "A programming language."},
        {"role": "user", "content": [{"type": "text", "text": "Who created it?"}]},
    ]
    write(source, [json.dumps({"messages": parts})])
    call_command("continuity_predict", "--input", str(source), "--output", str(target))
    assert len(json.loads(target.read_text())["continuity"]) == 2


def test_a_bad_line_is_named_and_no_output_is_left(tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(source, [json.dumps({"messages": conversation("a", "b")}), '{"messages": "not a list"}'])
    with pytest.raises(CommandError, match=r"in.jsonl:2"):
        call_command("continuity_predict", "--input", str(source), "--output", str(target))
    assert not target.exists() and list(tmp_path.iterdir()) == [source]


def test_broken_json_is_reported_with_its_line(tmp_path):
    source = tmp_path / "in.jsonl"
    write(source, ['{"messages": ['])
    with pytest.raises(CommandError, match=r"in.jsonl:1: not valid JSON"):
        call_command("continuity_predict", "--input", str(source), "--output", str(tmp_path / "out.jsonl"))


def test_sharegpt_style_speakers_are_understood(tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    messages = [
        {"from": "human", "value": "What is Rust?"},
        {"from": "gpt", "value": "A systems language."},
        {"from": "human", "value": "Is it fast?"},
    ]
    write(source, [json.dumps({"messages": messages})])
    call_command("continuity_predict", "--input", str(source), "--output", str(target))
    assert len(json.loads(target.read_text())["continuity"]) == 2


def test_switches_are_counted_with_the_threshold_of_each_turns_language(tmp_path, capsys, settings, monkeypatch):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(
        source,
        [
            json.dumps(
                {"messages": conversation("你看过《霸王别姬》吗？", "看过。", "主演是谁？", "张国荣。")},
                ensure_ascii=False,
            )
        ],
    )
    call_command("continuity_predict", "--input", str(source), "--output", str(target))
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["thresholds"]) == {"zh", "en"} and summary["user_turns"] == 2


def test_the_evaluation_command_trains_on_one_side_and_reports_each_set_beside_the_baseline(
    tmp_path, shared_datasets, capsys, settings
):
    settings.VAR_DIR = tmp_path  # its embedding cache goes here
    report_file = tmp_path / "report.json"
    call_command(
        "continuity_evaluate",
        "--public-samples",
        str(shared_datasets),
        "--train",
        "--limit",
        "40",
        "--json",
        str(report_file),
    )
    table = capsys.readouterr().out
    report = json.loads(report_file.read_text())
    assert report["side"] == "validation" and set(report["thresholds"]) <= {"zh", "en"}
    assert "crosswoz" in report["report"] and "all:zh" in report["report"] and "all:en" in report["report"]
    assert "| crosswoz | zh |" in table and "baseline AUC" in table
    assert list((tmp_path / "cache" / "continuity").glob("embeddings-*.npz"))


def test_the_evaluation_command_refuses_a_directory_without_samples(tmp_path):
    with pytest.raises(CommandError, match="no public samples"):
        call_command("continuity_evaluate", "--public-samples", str(tmp_path))


def test_the_evaluation_command_judges_the_packaged_model_on_the_test_side_it_held_out(
    tmp_path, shared_datasets, capsys, settings
):
    settings.VAR_DIR = tmp_path
    report_file = tmp_path / "report.json"
    call_command(
        "continuity_evaluate", "--public-samples", str(shared_datasets), "--limit", "30", "--json", str(report_file)
    )
    report = json.loads(report_file.read_text())
    assert report["side"] == "test" and set(report["thresholds"]) == {"zh", "en"}
    assert {"kdconv-splice-cross", "crosswoz", "tiage", "all:zh", "all:en"} <= set(report["report"])
    assert "packaged model" in capsys.readouterr().out


HOTLINE_CALLS = Path(__file__).resolve().parents[2] / "data" / "continuity" / "hotline_calls_written.jsonl"


def test_labelled_conversations_of_ones_own_are_judged_beside_the_baseline(tmp_path, capsys, settings):
    """150 Chinese hotline calls written with topic segments (no real segmented calls are public):
    never trained on. The floor sits below the figure docs/continuity.md reports."""
    settings.VAR_DIR = tmp_path
    report_file = tmp_path / "report.json"
    call_command("continuity_evaluate", "--labelled", str(HOTLINE_CALLS), "--json", str(report_file))
    calls = json.loads(report_file.read_text())["report"]["labelled:hotline_calls_written"]
    assert calls["language"] == "zh" and calls["model"]["n"] > 1000 and calls["model"]["switching"] > 100
    assert calls["model"]["roc_auc"] >= 0.78
    assert calls["model"]["roc_auc"] >= calls["baseline"]["roc_auc"] + 0.1
    assert "| labelled:hotline_calls_written | zh |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", r"calls.jsonl:1: not valid JSON"),
        ('{"messages": [{"role": "user", "content": "hi"}]}', r'calls.jsonl:1: "labels" must be a list'),
        (
            json.dumps({"messages": conversation("a", "b", "c", "d"), "labels": [None]}),
            r"one entry per user turn \(2\)",
        ),
        (json.dumps({"messages": conversation("a", "b", "c", "d"), "labels": [None, 2]}), r"each label is null, 1"),
        (json.dumps({"messages": conversation("a", "b", "c", "d"), "labels": [None, True]}), r"each label is null, 1"),
        (
            json.dumps({"messages": conversation("a", "b", "c", "d"), "labels": [None, 1]}),
            r"no user turn is labelled 0",
        ),
    ],
)
def test_a_bad_labelled_file_is_refused_with_its_line(tmp_path, line, error):
    path = tmp_path / "calls.jsonl"
    write(path, [line])
    with pytest.raises(CommandError, match=error):
        call_command("continuity_evaluate", "--labelled", str(path))


def test_the_evaluation_command_needs_something_to_judge_and_trains_only_on_public_samples(tmp_path):
    with pytest.raises(CommandError, match="give --public-samples DIR, --labelled FILE"):
        call_command("continuity_evaluate")
    with pytest.raises(CommandError, match="--train learns from the public samples"):
        call_command("continuity_evaluate", "--train", "--labelled", str(HOTLINE_CALLS))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("continuity_evaluate", "--labelled", str(tmp_path / "missing.jsonl"))
