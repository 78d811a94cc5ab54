"""`manage.py construct`: mine, construct in the foreground, print a one-line JSON summary last."""

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.flywheel.construction.conftest import thumbs_down_conversation

pytestmark = pytest.mark.django_db

BAD, GOOD, OK = "The capital of Australia is Sydney.", "It is Canberra.", "Canberra."


def construct(*args) -> tuple[dict, str]:
    out, err = StringIO(), StringIO()
    call_command("construct", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1]), err.getvalue()


def test_the_command_mines_constructs_and_prints_a_summary_last(script):
    thumbs_down_conversation()
    script.teacher, script.scores = [GOOD, OK], {BAD: 1, GOOD: 9, OK: 5}
    summary, log = construct("--limit", "5", "--n", "2")
    assert summary["bad_cases_mined"] == 1 and summary["bad_cases"] == 1
    assert summary["candidates"] == 3 and summary["sft_answers"] == 1 and summary["pairs"] == 1
    assert summary["pairs_refused"] == {} and summary["judge_failures"] == 0
    assert summary["llm_calls"] == 1 + 3 + 2
    assert {"pearson", "spearman", "chosen_longer_share"} <= set(summary["length_bias"])


def test_the_limit_caps_how_many_bad_cases_are_constructed(script):
    for index in range(3):
        thumbs_down_conversation(prompt=f"Question {index}?", answer=BAD)
    script.teacher, script.scores = [GOOD, OK], {BAD: 1, GOOD: 9, OK: 5}
    summary, _ = construct("--limit", "2", "--n", "2")
    assert summary["bad_cases_mined"] == 3 and summary["bad_cases"] == 2


def test_refused_pairs_are_counted_by_reason(script):
    thumbs_down_conversation()
    script.teacher, script.default_score = [GOOD, OK], 6
    summary, log = construct("--limit", "1", "--n", "2")
    assert summary["pairs"] == 0 and summary["pairs_refused"] == {"tie": 1}
    assert "the judge scored the answers equally" in log


def test_without_an_llm_the_command_says_so_and_fails(settings):
    settings.OPENAI_BASE_URL = ""
    with pytest.raises(CommandError, match="no LLM is configured"):
        construct("--limit", "1")


def test_without_an_llm_the_command_exits_non_zero_from_the_shell():
    result = subprocess.run(
        [sys.executable, "manage.py", "construct", "--limit", "1"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "OPENAI_BASE_URL": "", "FLYWHEEL_VAR_DIR": "/tmp/flywheel-construct-cli"},
        timeout=120,
    )
    assert result.returncode != 0 and "no LLM is configured" in result.stderr


def test_with_nothing_to_construct_the_summary_says_zero(script):
    summary, log = construct("--limit", "3")
    assert summary["bad_cases"] == 0 and summary["llm_calls"] == 0
