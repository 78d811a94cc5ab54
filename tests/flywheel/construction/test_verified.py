"""A failed verifier rejects a candidate whatever its judge score."""

import pytest

from flywheel.construction.models import Candidate, SftAnswer
from flywheel.construction.services import badcase_settings_save
from tests.flywheel.construction.conftest import mine, run_construction, thumbs_down_conversation

pytestmark = pytest.mark.django_db

WRONG_SUM, RIGHT_SUM = "7 + 5 = 13, so the answer is 13.", "7 + 5 = 12, so the answer is 12."
WRONG_CODE = "```python\ndef add(a, b):\n    return a * b\n```"
RIGHT_CODE = "```python\ndef add(a, b):\n    return a + b\n```"


def test_a_math_answer_that_does_not_match_the_reference_is_not_chosen_despite_a_higher_score(script, engineer):
    from flywheel.construction.models import BadCase

    thumbs_down_conversation(prompt="What is 7 + 5?", answer="It is 75.")
    mine()
    case = BadCase.objects.get()
    badcase_settings_save(bad_case_id=case.id, user=engineer, verifier={"kind": "math", "expected": "12"})
    script.teacher, script.scores = [WRONG_SUM, RIGHT_SUM], {WRONG_SUM: 9, RIGHT_SUM: 7, "It is 75.": 1}
    run_construction(n=2)
    assert SftAnswer.objects.get().candidate.text == RIGHT_SUM
    wrong = Candidate.objects.get(text=WRONG_SUM)
    assert wrong.verifier["passed"] is False and "does not match the reference 12" in wrong.verifier["detail"]


def test_code_failing_the_accepted_tests_from_the_prompt_is_not_chosen_despite_a_higher_score(script, engineer):
    from flywheel.construction.models import BadCase
    from flywheel.construction.services import badcase_proposed_tests_accept

    thumbs_down_conversation(
        prompt="Write add(a, b).\n```python\nassert add(2, 3) == 5\n```", answer="Use a calculator."
    )
    mine()
    badcase_proposed_tests_accept(bad_case_id=BadCase.objects.get().id, user=engineer)
    script.teacher, script.scores = [WRONG_CODE, RIGHT_CODE], {WRONG_CODE: 9, RIGHT_CODE: 6, "Use a calculator.": 1}
    run_construction(n=2)
    assert SftAnswer.objects.get().candidate.text == RIGHT_CODE
    assert Candidate.objects.get(text=WRONG_CODE).verifier["passed"] is False


def test_when_every_candidate_fails_the_verifier_nothing_is_written(script, engineer):
    from flywheel.construction.models import BadCase

    thumbs_down_conversation(prompt="What is 7 + 5?", answer="It is 75.")
    mine()
    badcase_settings_save(
        bad_case_id=BadCase.objects.get().id, user=engineer, verifier={"kind": "math", "expected": "12"}
    )
    script.teacher = [WRONG_SUM, "The answer is 11."]
    summary = run_construction(n=2)
    assert not SftAnswer.objects.exists()
    assert summary["sft_refused"] == {"verifier_failure": 1} and summary["pairs_refused"] == {"verifier_failure": 1}


def test_tests_from_the_prompt_that_nobody_accepted_are_never_run(script):
    from flywheel.construction.models import BadCase

    thumbs_down_conversation(
        prompt="Write add(a, b).\n```python\nassert add(2, 3) == 5\n```", answer="Use a calculator."
    )
    mine()
    script.teacher, script.scores = [WRONG_CODE, RIGHT_CODE], {WRONG_CODE: 9, RIGHT_CODE: 6, "Use a calculator.": 1}
    run_construction(n=2)
    assert not Candidate.objects.exclude(verifier=None).exists()
    assert BadCase.objects.get().proposed_tests.strip() == "assert add(2, 3) == 5"


def test_code_verification_is_refused_with_a_reason_where_the_sandbox_cannot_run(script, engineer, monkeypatch):
    from flywheel.construction import sandbox
    from flywheel.construction.models import BadCase

    thumbs_down_conversation(prompt="Write add(a, b).", answer="Use a calculator.")
    mine()
    badcase_settings_save(
        bad_case_id=BadCase.objects.get().id, user=engineer, verifier={"kind": "code", "tests": "assert add(2, 3) == 5"}
    )
    monkeypatch.setenv("PATH", "/nonexistent")  # this worker has no bubblewrap
    monkeypatch.setattr(sandbox, "_probe_cache", {})
    script.teacher, script.scores = [WRONG_CODE, RIGHT_CODE], {WRONG_CODE: 9, RIGHT_CODE: 6, "Use a calculator.": 1}
    summary = run_construction(n=2)
    case = BadCase.objects.get()
    assert summary["sft_refused"] == {"verifier_unavailable": 1} and not SftAnswer.objects.exists()
    assert "bubblewrap" in case.account and not Candidate.objects.exclude(verifier=None).exists()
