"""Verifiers for answers that can be checked: code that must pass tests, and math answers that
must match a reference. A failed verifier rejects a candidate whatever its judge score.

The code verifier runs the candidate's code and the tests in a separate `python -I` process:
an empty temporary working directory, a minimal environment, CPU time, address space, file
size and open-file limits (resource.setrlimit, set before the candidate's code runs), a wall-clock timeout that kills the whole
process group, and an audit hook installed before the candidate's code runs that refuses
sockets, subprocesses, exec/fork, ctypes and writing files outside the working directory.
It contains mistakes and runaway code; it is not a boundary against a determined attacker
(run workers in a container for that).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from flywheel.construction import conf


@dataclass(frozen=True)
class VerifierResult:
    kind: str
    passed: bool
    detail: str

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
    imports), e.g. "Write is_prime(n). ```python\\nassert is_prime(7)\\n```"."""
    for _lang, body in reversed(code_blocks(prompt)):
        lines = [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
        if lines and all(line.startswith(("assert ", "import ", "from ")) for line in lines) and any(
                line.startswith("assert ") for line in lines):
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
    return VerifierResult("math", same, f"final answer {found!r} {'matches' if same else 'does not match'} {expected!r}")


# --- code -----------------------------------------------------------------------------------

# Runs inside the sandboxed interpreter, before the candidate: from here on, the events below
# raise instead of happening. Audit hooks cannot be removed once added.
_BOOTSTRAP = r"""
import os, sys, runpy, resource
_cpu, _memory = int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_CPU, (_cpu, _cpu))
resource.setrlimit(resource.RLIMIT_AS, (_memory * 1024 * 1024,) * 2)
resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024,) * 2)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
_root = os.path.realpath(os.getcwd())
_blocked = ("socket.", "subprocess.", "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn",
            "os.spawn", "os.kill", "os.killpg", "ctypes.", "pty.", "webbrowser.", "urllib.Request",
            "http.client.connect", "ftplib.", "smtplib.", "telnetlib.", "sys.remote_exec")
def _hook(event, args):
    if event.startswith(_blocked):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and args and isinstance(args[0], (str, bytes)):
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = any(c in mode for c in "wax+") or (flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        path = os.fsdecode(args[0])
        if writes and not os.path.realpath(os.path.join(_root, path)).startswith(_root + os.sep):
            raise PermissionError(f"sandbox: writing {path} is not allowed")
sys.addaudithook(_hook)
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def run_python_tests(code: str, tests: str, *, cpu_s: int | None = None, wall_s: int | None = None,
                     memory_mb: int | None = None) -> VerifierResult:
    """Run `code` followed by `tests`; passed when the process exits 0 in time."""
    cpu_s, wall_s = cpu_s or conf.VERIFIER_CPU_S, wall_s or conf.VERIFIER_WALL_S
    memory_mb = memory_mb or conf.VERIFIER_MEMORY_MB
    with tempfile.TemporaryDirectory(prefix="flywheel-verify-") as workdir:
        script = os.path.join(workdir, "candidate.py")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(f"{code}\n\n# --- tests ---\n{tests}\n")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        process = subprocess.Popen(
            # The limits are set by the bootstrap itself, before the candidate's code runs (a
            # preexec_fn is unsafe in a threaded worker).
            [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, script, str(cpu_s), str(memory_mb)], cwd=workdir,
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            _out, err = process.communicate(timeout=wall_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.communicate()
            return VerifierResult("code", False, f"timed out after {wall_s}s")
    if process.returncode == 0:
        return VerifierResult("code", True, "the tests passed")
    tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
    if process.returncode < 0:
        return VerifierResult("code", False, f"killed by signal {-process.returncode} (CPU time or memory limit)")
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
        raise ValueError('a verifier is an object such as {"kind": "math", "expected": "42"}')
    kind = spec.get("kind")
    if kind == "math":
        expected = str(spec.get("expected", "")).strip()
        if not expected:
            raise ValueError("a math verifier needs the expected answer")
        return {"kind": "math", "expected": expected[:200]}
    if kind == "code":
        tests = str(spec.get("tests", "")).strip()
        if "assert" not in tests:
            raise ValueError("a code verifier needs tests with at least one assert statement")
        try:
            ast.parse(tests)
        except SyntaxError as exc:
            raise ValueError(f"the tests are not valid Python: {exc.msg} (line {exc.lineno})") from None
        return {"kind": "code", "tests": tests[:20_000]}
    raise ValueError(f"unknown verifier kind {kind!r}; use math or code")


def verify(answer: str, spec: dict) -> VerifierResult:
    if spec["kind"] == "math":
        return verify_math(answer, spec["expected"])
    return verify_code(answer, spec["tests"])
