"""Verifiers for answers that can be checked: code that must pass tests, and math answers that
must match a reference. A failed verifier rejects a candidate whatever its judge score.

The code verifier runs the candidate's code and the tests behind an operating-system boundary
(`sandbox.py`: bubblewrap namespaces, a seccomp filter, rlimits, capped output, a wall-clock
timeout). Where that boundary cannot be set up, code is never run: the result says
`verifier_unavailable` and construction refuses the bad case with that reason.

Tests are never taken from chat text on their own: tests found in a user's prompt are only
proposed (`asserts_in_prompt`), and run after an engineer accepts them.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from django.conf import settings

from flywheel.construction.sandbox import SandboxUnavailable, run_python_sandboxed, sandbox_unavailable_reason
from flywheel.construction.verifier_service import run_remote
from flywheel.i18n import Text

# The refusal reason (and the start of the result's detail) when code cannot be run safely here.
VERIFIER_UNAVAILABLE = "verifier_unavailable"


@dataclass(frozen=True)
class VerifierResult:
    kind: str
    passed: bool
    detail: str
    unavailable: bool = False  # the sandbox could not run: nothing was checked

    def as_dict(self) -> dict:
        return asdict(self)


# --- finding what to verify ---------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    return [(lang.lower(), body) for lang, body in _FENCE.findall(text or "")]


def extract_code(text: str) -> str | None:
    """The candidate's Python: its last python (or unlabelled) code block, else the whole text
    when it parses as Python and defines something."""
    blocks = [body for lang, body in code_blocks(text) if lang in ("python", "py", "python3", "")]
    if blocks:
        return blocks[-1]
    try:
        tree = ast.parse(text or "")
    except SyntaxError:
        return None
    defines = any(isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign)) for node in tree.body)
    return text if defines else None


def asserts_in_prompt(prompt: str) -> str | None:
    """Tests the user gave in the prompt: a code block made only of assert statements (and
    imports), e.g. "Write is_prime(n). ```python\\nassert is_prime(7)\\n```". Chat text is
    written by strangers: these are only proposed to an engineer, never run on their own."""
    for _lang, body in reversed(code_blocks(prompt)):
        lines = [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
        if (
            lines
            and all(line.startswith(("assert ", "import ", "from ")) for line in lines)
            and any(line.startswith("assert ") for line in lines)
        ):
            return body
    return None


# --- math -----------------------------------------------------------------------------------

_BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_NUMBER = r"[-+−]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?%?|[-+−]?\.\d+|\\d?frac\{[^{}]+\}\{[^{}]+\}"
_ANSWER_IS = re.compile(r"(?:final answer|answer|result)\s*(?:is|:|=|equals)\s*\$?\s*(" + _NUMBER + ")", re.IGNORECASE)
_ANSWER_IS_ZH = re.compile(r"(?:答案|结果|最终答案)\s*(?:是|为|：|:|=)\s*\$?\s*(" + _NUMBER + ")")
_ANY_NUMBER = re.compile(_NUMBER)


def extract_final_answer(text: str) -> str | None:
    text = text or ""
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    for pattern in (_ANSWER_IS, _ANSWER_IS_ZH):
        found = pattern.findall(text)
        if found:
            return found[-1].strip()
    numbers = _ANY_NUMBER.findall(text)
    return numbers[-1].strip() if numbers else None


def number_value(raw: str) -> Fraction | None:
    """A number written as 1,234.5 / -3/4 / 25% / \\frac{1}{2} / 1e-3, as an exact fraction."""
    text = unicodedata.normalize("NFKC", raw or "").strip().strip("$").replace("−", "-").replace(" ", "")
    frac = re.fullmatch(r"([-+]?)\\d?frac\{([^{}]+)\}\{([^{}]+)\}", text)
    if frac:
        top, bottom = number_value(frac.group(2)), number_value(frac.group(3))
        if top is None or not bottom:
            return None
        return (-1 if frac.group(1) == "-" else 1) * top / bottom
    percent = text.endswith("%")
    text = text.rstrip("%").replace(",", "")
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            value = Fraction(Decimal(top)) / Fraction(Decimal(bottom))
        else:
            value = Fraction(Decimal(text))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return value / 100 if percent else value


def _plain(text: str) -> str:
    return re.sub(r"[\s$.。]", "", unicodedata.normalize("NFKC", text or "").casefold())


def verify_math(answer: str, expected: str, *, rel_tol: float = 1e-6) -> VerifierResult:
    found = extract_final_answer(answer)
    if found is None:
        return VerifierResult("math", False, "no final answer found in the candidate")
    got, want = number_value(found), number_value(expected)
    if want is not None:
        if got is None:
            return VerifierResult("math", False, f"the final answer {found!r} is not a number (expected {expected})")
        close = abs(got - want) <= abs(want) * Fraction(rel_tol) if want else got == want
        verdict = "matches" if close else "does not match"
        return VerifierResult("math", close, f"final answer {found} {verdict} the reference {expected}")
    same = _plain(found) == _plain(expected)
    return VerifierResult(
        "math", same, f"final answer {found!r} {'matches' if same else 'does not match'} {expected!r}"
    )


# --- code -----------------------------------------------------------------------------------


def run_python_tests(
    code: str, tests: str, *, cpu_s: int | None = None, wall_s: int | None = None, memory_mb: int | None = None
) -> VerifierResult:
    """Run `code` followed by `tests` in the sandbox; passed when the program exits 0 in time.
    Where the sandbox cannot run, nothing runs and the result says `verifier_unavailable`."""
    cpu_s, wall_s = cpu_s or settings.FLYWHEEL_VERIFIER_CPU_S, wall_s or settings.FLYWHEEL_VERIFIER_WALL_S
    memory_mb = memory_mb or settings.FLYWHEEL_VERIFIER_MEMORY_MB
    program = f"{code}\n\n# --- tests ---\n{tests}\n"
    try:
        if settings.FLYWHEEL_VERIFIER_SOCKET:
            result = run_remote(
                settings.FLYWHEEL_VERIFIER_SOCKET, program, cpu_s=cpu_s, wall_s=wall_s, memory_mb=memory_mb
            )
        else:
            reason = sandbox_unavailable_reason()
            if reason:
                raise SandboxUnavailable(reason)
            result = run_python_sandboxed(program, cpu_s=cpu_s, wall_s=wall_s, memory_mb=memory_mb)
    except SandboxUnavailable as exc:
        return VerifierResult("code", False, f"{VERIFIER_UNAVAILABLE}: {exc}", unavailable=True)
    except ValueError as exc:  # the program is too long to run
        return VerifierResult("code", False, str(exc))
    if result.timed_out:
        return VerifierResult("code", False, f"timed out after {wall_s}s")
    if result.returncode == 0:
        return VerifierResult("code", True, "the tests passed")
    if result.killed_by_signal:
        return VerifierResult("code", False, f"killed by signal {result.killed_by_signal} (CPU time or memory limit)")
    tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
    return VerifierResult("code", False, "the tests failed: " + " | ".join(tail)[-1500:])


def verify_code(answer: str, tests: str) -> VerifierResult:
    code = extract_code(answer)
    if code is None:
        return VerifierResult("code", False, "no Python code found in the candidate")
    return run_python_tests(code, tests)


# --- one entry point ------------------------------------------------------------------------


def verifier_spec_clean(spec) -> dict | None:
    """A verifier spec as stored, or ValueError saying what is wrong. None: no verifier."""
    if spec in (None, "", {}):
        return None
    if not isinstance(spec, dict):
        raise ValueError(Text('a verifier is an object such as {"kind": "math", "expected": "42"}'))
    kind = spec.get("kind")
    if kind == "math":
        expected = str(spec.get("expected", "")).strip()
        if not expected:
            raise ValueError(Text("a math verifier needs the expected answer"))
        return {"kind": "math", "expected": expected[:200]}
    if kind == "code":
        tests = str(spec.get("tests", "")).strip()
        if "assert" not in tests:
            raise ValueError(Text("a code verifier needs tests with at least one assert statement"))
        try:
            ast.parse(tests)
        except SyntaxError as exc:
            raise ValueError(
                Text("the tests are not valid Python: %(reason)s (line %(line)s)", reason=exc.msg, line=exc.lineno)
            ) from None
        return {"kind": "code", "tests": tests[:20_000]}
    raise ValueError(Text("unknown verifier kind %(kind)r; use math or code", kind=kind))


def verifier_unavailable_reason(spec: dict) -> str | None:
    """Why this verifier cannot run here (code without a working local sandbox), else None. With
    a verifier service, the service answers that for each program."""
    if spec["kind"] != "code" or settings.FLYWHEEL_VERIFIER_SOCKET:
        return None
    return sandbox_unavailable_reason()


def verify(answer: str, spec: dict) -> VerifierResult:
    if spec["kind"] == "math":
        return verify_math(answer, spec["expected"])
    return verify_code(answer, spec["tests"])
