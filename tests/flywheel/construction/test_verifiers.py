"""Verifiers: code run in the sandbox against tests, math answers against a reference. The
hostile-code corpus is in test_sandbox.py."""

import pytest

from flywheel.construction.verifiers import (
    asserts_in_prompt,
    run_python_tests,
    verifier_spec_clean,
    verify_code,
    verify_math,
)

TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"


def test_correct_code_passes_its_tests():
    assert verify_code("Here you go:\n```python\ndef add(a, b):\n    return a + b\n```", TESTS).passed


def test_wrong_code_fails_its_tests():
    result = verify_code("```python\ndef add(a, b):\n    return a - b\n```", TESTS)
    assert not result.passed and "AssertionError" in result.detail


def test_an_answer_without_code_fails_the_code_verifier():
    assert not verify_code("Just add the numbers.", TESTS).passed


def test_code_cannot_open_a_network_connection():
    code = (
        "import socket\ndef add(a, b):\n    socket.create_connection(('127.0.0.1', 5432), timeout=1)\n    return a + b"
    )
    result = run_python_tests(code, TESTS)
    assert not result.passed and "PermissionError" in result.detail


def test_code_cannot_start_a_process():
    code = "import subprocess\ndef add(a, b):\n    subprocess.run(['true'])\n    return a + b"
    result = run_python_tests(code, TESTS)
    assert not result.passed and ("PermissionError" in result.detail or "FileNotFoundError" in result.detail)


def test_code_cannot_write_outside_its_working_directory(tmp_path):
    target = tmp_path / "written"
    code = f"def add(a, b):\n    open({str(target)!r}, 'w').write('x')\n    return a + b"
    assert not run_python_tests(code, TESTS).passed and not target.exists()


def test_runaway_code_is_stopped_by_the_cpu_limit():
    result = run_python_tests("def add(a, b):\n    while True:\n        pass", TESTS, cpu_s=1, wall_s=5)
    assert not result.passed and ("limit" in result.detail or "timed out" in result.detail)


def test_code_asking_for_too_much_memory_fails():
    result = run_python_tests("def add(a, b):\n    return len(bytearray(4 * 1024 ** 3))", TESTS, memory_mb=256)
    assert not result.passed and "MemoryError" in result.detail


def test_the_environment_of_the_sandbox_holds_no_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    code = "import os\ndef add(a, b):\n    assert 'OPENAI_API_KEY' not in os.environ\n    return a + b"
    assert run_python_tests(code, TESTS).passed


def test_tests_given_in_the_prompt_are_found():
    prompt = "Write add(a, b).\n```python\nassert add(2, 3) == 5\n```"
    assert asserts_in_prompt(prompt).strip() == "assert add(2, 3) == 5"
    assert asserts_in_prompt("Write add(a, b).\n```python\nprint(add(2, 3))\n```") is None


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("So the answer is 1,234.50", "1234.5"),
        ("答案是 3/4", "0.75"),
        (r"Therefore $\boxed{\frac{1}{2}}$.", "0.5"),
        ("The result: 25%", "0.25"),
    ],
)
def test_a_math_answer_matching_the_reference_after_normalisation_passes(answer, expected):
    assert verify_math(answer, expected).passed


def test_a_wrong_math_answer_fails():
    result = verify_math("7 apples plus 5 apples is 13 apples, so the answer is 13", "12")
    assert not result.passed and "does not match" in result.detail


def test_a_verifier_spec_without_asserts_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least one assert"):
        verifier_spec_clean({"kind": "code", "tests": "print(1)"})
