"""The hostile-code corpus: programs an attacker would hand the code verifier, run through the
same sandbox that runs teacher answers and accepted tests. Each prints ESCAPED only if its
attack worked; the host must be unchanged afterwards and no process of it may survive.

No attack addresses anything beyond this machine's loopback: "the outside" is covered by
showing that no socket of any family can even be created.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from flywheel.construction.sandbox import _BOOTSTRAP, run_python_sandboxed, sandbox_unavailable_reason

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def sandbox_works_here():
    reason = sandbox_unavailable_reason()
    assert reason is None, f"the sandbox must run on CI (make installs bubblewrap): {reason}"


@pytest.fixture
def host_mark(tmp_path) -> Path:
    """A host path no attack may create."""
    return tmp_path / "pwned"


def run(source: str, **limits):
    limits = {"cpu_s": 5, "wall_s": 10, "memory_mb": 256, **limits}
    return run_python_sandboxed(source, **limits)


def out(result) -> str:
    return result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")


def sandbox_processes() -> list[int]:
    """Host pids still running the sandbox's bootstrap, a moment after a run. The kernel ends a
    pid namespace's processes when its init dies, asynchronously: give it up to 5 s."""
    marker = _BOOTSTRAP.strip().splitlines()[0].encode()
    deadline = time.monotonic() + 5
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if marker in Path(f"/proc/{entry}/cmdline").read_bytes():
                        found.append(int(entry))
                except OSError:
                    continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


def assert_contained(result, host_mark: Path | None = None):
    assert b"ESCAPED" not in result.stdout, out(result)[-2000:]  # stderr's tracebacks quote the source
    assert result.returncode != 0 or result.timed_out or "BLOCKED" in out(result)
    if host_mark is not None:
        assert not host_mark.exists()
    assert sandbox_processes() == []


# --- files and secrets -----------------------------------------------------------------------


def test_host_files_cannot_be_read(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("host-secret")
    for path in (
        "/etc/passwd",
        "/etc/shadow",
        str(secret),
        str(REPO / "flywheel" / "settings.py"),
        "/root/.bash_history",
        "/var/lib/postgresql",
        str(Path(sys.prefix) / "pyvenv.cfg"),
    ):
        assert_contained(run(f"print('ESCAPED', open({path!r}, 'rb').read(40))"))


def test_the_parents_environment_cannot_be_read_through_proc():
    result = run("import os\nprint('ESCAPED', open(f'/proc/{os.getppid()}/environ', 'rb').read()[:80])")
    assert_contained(result)
    assert_contained(run("import os\nprint('ESCAPED', os.listdir('/proc'))"))


def test_the_sandbox_environment_holds_none_of_the_workers_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "django-secret")
    result = run(
        "import os\nleaked = [k for k in os.environ if 'KEY' in k or 'DATABASE' in k or 'REDIS' in k]\n"
        "print('ESCAPED' if leaked else 'BLOCKED', leaked)"
    )
    assert_contained(result)


def test_the_projects_packages_cannot_be_imported():
    assert_contained(run("import django\nprint('ESCAPED', django.__file__)"))


def test_nothing_outside_the_work_directory_can_be_written(host_mark):
    stdlib = os.path.dirname(os.__file__)
    targets = [str(host_mark), "/tmp/x", "/x", "/usr/x", f"{stdlib}/x.py", "/dev/x", "/root/x"]
    source = (
        "written = []\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        written.append(path)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('ESCAPED' if written else 'BLOCKED', written)"
    )
    assert_contained(run(source), host_mark)


def test_the_work_directory_is_capped_in_size():
    source = (
        "import os\nwritten = 0\n"
        "try:\n"
        "    for i in range(200):\n"
        "        with open(f'f{i}', 'wb') as f:\n"
        "            f.write(b'x' * 1024 * 1024)\n"
        "        written += 1\n"
        "except OSError:\n"
        "    pass\n"
        "print('ESCAPED' if written > 32 else 'BLOCKED', written)"
    )
    assert_contained(run(source))


# --- network -----------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [5432, 6379])
def test_loopback_services_of_the_host_cannot_be_reached(port):
    result = run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('ESCAPED')")
    assert_contained(result)


def test_no_socket_of_any_family_can_be_created():
    source = (
        "import socket\nmade = []\n"
        "for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM),\n"
        "                     (socket.AF_INET6, socket.SOCK_STREAM), (socket.AF_UNIX, socket.SOCK_STREAM),\n"
        "                     (socket.AF_NETLINK, socket.SOCK_RAW), (socket.AF_PACKET, socket.SOCK_RAW)):\n"
        "    try:\n"
        "        socket.socket(family, kind).close()\n"
        "        made.append(int(family))\n"
        "    except OSError:\n"
        "        pass\n"
        "print('ESCAPED' if made else 'BLOCKED', made)"
    )
    assert_contained(run(source))


# --- processes ---------------------------------------------------------------------------------

CHILD = "import sys\nCHILD = [sys.executable, '-c', 'print(\"ESCAPED from a child\")']\n"


@pytest.mark.parametrize(
    "attack",
    [
        "import os\nprint('ESCAPED' if os.system('echo ESCAPED') == 0 else 'BLOCKED')",
        CHILD + "import subprocess\nsubprocess.run(CHILD)",
        CHILD + "import os\nos.posix_spawn(CHILD[0], CHILD, {})\nos.wait()",
        CHILD + "import os\nif os.fork() == 0:\n    os.execv(CHILD[0], CHILD)\nos.wait()",
        CHILD + "import os\nos.execv(CHILD[0], CHILD[:2] + ['import os; os.fork() == 0 and print(\"ESCAPED\")'])",
        CHILD
        + (
            "import _posixsubprocess, os\n"
            "r, w = os.pipe()\n"
            "try:\n"
            "    _posixsubprocess.fork_exec(CHILD, [CHILD[0].encode()], True, (w,), None, None, -1, -1, -1, -1, -1, -1,\n"
            "                               r, w, False, False, -1, None, None, None, -1, None, True)\n"
            "except TypeError as exc:\n"
            "    print('SIGNATURE', exc)\n"
            "os.wait()"
        ),
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\npid = libc.fork()\nprint('ESCAPED' if pid >= 0 else 'BLOCKED')",
        # clone(SIGCHLD): a plain fork through the raw syscall
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\npid = libc.syscall(56, 17, 0, 0, 0, 0)\n"
        "print('ESCAPED' if pid >= 0 else 'BLOCKED')",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint('ESCAPED' if libc.unshare(0x10000000) == 0 else 'BLOCKED')",
    ],
    ids=[
        "os.system",
        "subprocess",
        "posix_spawn",
        "fork+exec",
        "exec then fork",
        "_posixsubprocess",
        "ctypes fork",
        "raw clone",
        "ctypes unshare",
    ],
)
def test_no_process_can_be_started_by_any_route(attack, host_mark):
    result = run(attack)
    assert "SIGNATURE" not in out(result), out(result)
    assert_contained(result, host_mark)


def test_gc_and_frame_tricks_cannot_lift_the_limits():
    source = (
        "import gc, resource, sys\n"
        "frames = [sys._getframe()]\n"
        "while frames[-1].f_back is not None:\n"
        "    frames.append(frames[-1].f_back)\n"
        "for frame in frames:\n"
        "    frame.f_globals.pop('resource', None)\n"
        "mods = [o for o in gc.get_objects() if type(o).__name__ == 'module']\n"
        "lifted = []\n"
        "for limit in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE):\n"
        "    try:\n"
        "        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "        lifted.append(limit)\n"
        "    except (ValueError, OSError):\n"
        "        pass\n"
        "import os\n"
        "try:\n"
        "    pid = os.fork()\n"
        "    lifted.append('fork')\n"
        "except OSError:\n"
        "    pass\n"
        "print('ESCAPED' if lifted else 'BLOCKED', lifted)"
    )
    assert_contained(run(source))


def test_a_fork_bomb_fails_at_once():
    result = run("import os\nwhile True:\n    os.fork()", wall_s=10)
    assert not result.timed_out and "PermissionError" in out(result)
    assert_contained(result)


def test_a_thread_bomb_is_bounded_by_the_memory_limit():
    source = (
        "import threading, time\nstarted = 0\n"
        "try:\n"
        "    for _ in range(100000):\n"
        "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "        started += 1\n"
        "except RuntimeError:\n"
        "    pass\n"
        "print('ESCAPED' if started >= 100000 else 'BLOCKED', started, flush=True)\n"
        "import os\nos._exit(0)"
    )
    assert_contained(run(source, wall_s=15))


def test_setsid_does_not_let_code_outlive_the_timeout():
    source = (
        "import os, signal, time\nos.setsid()\n"
        "for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
        "    signal.signal(sig, signal.SIG_IGN)\n"
        "time.sleep(3600)"
    )
    result = run(source, wall_s=2)
    assert result.timed_out
    assert_contained(result)


def test_no_process_of_the_host_is_visible_or_can_be_signalled():
    source = (
        "import os\nseen = []\n"
        "for pid in range(1, 4096):\n"
        "    if pid in (1, os.getpid()):\n"
        "        continue\n"
        "    try:\n"
        "        os.kill(pid, 0)\n"
        "        seen.append(pid)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('ESCAPED' if seen else 'BLOCKED', seen)"
    )
    assert_contained(run(source))


# --- resources ---------------------------------------------------------------------------------


def test_sleeping_forever_is_killed_at_the_wall_clock_timeout():
    result = run("import time\ntime.sleep(10 ** 6)", wall_s=2)
    assert result.timed_out
    assert_contained(result)


def test_asking_for_more_memory_than_the_limit_fails():
    result = run("data = bytearray(2 * 1024 ** 3)\nprint('ESCAPED')", memory_mb=256)
    assert "MemoryError" in out(result)
    assert_contained(result)


def test_400_mb_on_stderr_keeps_only_the_capped_output_and_the_workers_memory_bounded():
    before = rss_kib()
    source = (
        "import sys\nchunk = b'x' * (1024 * 1024)\n"
        "for _ in range(400):\n"
        "    sys.stderr.buffer.write(chunk)\n"
        "sys.stderr.flush()\n"
        "print('done')"
    )
    result = run(source, wall_s=60, cpu_s=30)
    assert len(result.stderr) == 64 * 1024 and result.stderr_dropped >= 399 * 1024 * 1024
    assert rss_kib() - before < 50 * 1024  # KiB: the worker never held the stream
    assert sandbox_processes() == []


def test_correct_code_still_runs_and_passes():
    result = run("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')")
    assert result.returncode == 0 and result.stdout == b"ok\n"
