import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from flywheel.labeling.classifier import TaskTypeModel
from flywheel.labeling.taxonomy import taxonomy


def run(*args) -> tuple[list[str], dict]:
    out = StringIO()
    call_command("label", *args, stdout=out, stderr=StringIO())
    lines = out.getvalue().strip().splitlines()
    return lines, json.loads(lines[-1])


def test_the_report_prints_accuracy_per_type_and_language_and_the_confusion_matrix_last_line_json():
    lines, report = run("--offline", "--report")
    held = report["held_out"]
    types = taxonomy().type_names()
    assert set(held["by_type"]) == set(types) and set(held["by_language"]) == {"zh", "en"}
    assert all(set(row) == {"all", "zh", "en"} for row in held["by_type"].values())
    matrix = held["confusion"]["all"]
    assert len(matrix) == len(types) and all(len(row) == len(types) for row in matrix)
    assert sum(map(sum, matrix)) == held["n"] == held["by_language"]["zh"]["n"] + held["by_language"]["en"]["n"]
    assert sum(matrix[i][i] for i in range(len(types))) / held["n"] == pytest.approx(held["accuracy"], abs=0.001)
    text = "\n".join(lines[:-1])
    assert "confusion (rows: true type, columns: predicted)" in text and "calibration" in text
    assert all(t in text for t in types)
    check = report["check"]
    assert check["n"] >= 800 and set(check["by_language"]) == {"zh", "en"}
    assert f"check set written apart, never trained on ({check['n']} requests" in text


def test_the_report_reads_the_uncertain_share_at_the_threshold_in_force(settings):
    settings.FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE = 0.0
    assert run("--offline", "--report")[1]["held_out"]["calibration"]["uncertain_share"] == 0
    settings.FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE = 1.0
    assert run("--offline", "--report")[1]["held_out"]["calibration"]["uncertain_share"] > 0.9


def test_refit_and_save_write_weights_with_their_report_for_a_custom_taxonomy(tmp_path, settings):
    path = tmp_path / "taxonomy.json"
    types = {
        "refund": {"subtypes": {"other": ["I want my money back", "退款怎么操作", "refund my order please"]}},
        "other": {"subtypes": {"other": ["hello there", "你好", "what time do you open?", "你们几点开门"]}},
    }
    path.write_text(json.dumps(types, ensure_ascii=False), encoding="utf-8")
    settings.FLYWHEEL_LABEL_TAXONOMY = str(path)
    settings.VAR_DIR = tmp_path / "var"
    lines, report = run("--offline", "--report", "--refit", "--save", str(tmp_path / "weights.npz"))
    assert report["warnings"] and report["warnings"][0].startswith("custom taxonomy")
    assert any(line.startswith("warning: custom taxonomy") for line in lines)
    saved = TaskTypeModel.load(tmp_path / "weights.npz")
    assert saved.types == ["other", "refund"] and saved.meta["fingerprint"] == report["fingerprint"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--refit"], "go with --report"), (["--report", "--save", "x.npz"], "add --refit")],
)
def test_refit_and_save_without_the_report_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("label", *args, stdout=StringIO())
