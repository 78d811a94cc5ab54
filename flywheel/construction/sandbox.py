"""Run untrusted Python behind an operating-system boundary: bubblewrap namespaces plus a
seccomp filter. Code verification is the only caller; nothing here imports Django.

What the code inside gets (and why):
- every namespace unshared (user, pid, net, ipc, uts, cgroup): no network at all, not even
  loopback services of the host, and no other process is visible or reachable;
- a fresh root that holds only the Python runtime, bound read-only (the interpreter, its
  standard library and the shared libraries they load), `/dev/null` and friends, and a small
  writable `/work` in memory (its size is capped). No host `/proc`, `/etc`, `/home`, `var/`,
  virtualenv or project source; the root itself is remounted read-only;
- an empty environment; the unprivileged user 65534 with no capabilities; a new session;
- a seccomp filter that refuses every way to create a process (fork, vfork, clone without
  CLONE_THREAD, clone3), sockets, ptrace and the kernel interfaces a sandbox never needs.
  This is what stops a fork bomb: RLIMIT_NPROC does not bind a process whose host user is root;
- rlimits set by the bootstrap before the candidate's first line: CPU seconds, address space,
  processes, file size, open files, no core files;
- stdout and stderr read in chunks and kept up to a cap (the rest is counted and dropped);
- a wall-clock timeout that kills bubblewrap, which takes the whole pid namespace with it
  (`--die-with-parent`; the kernel kills every process of a namespace whose init dies).

Where bubblewrap cannot run (not installed, no user namespaces, no libseccomp), nothing is run:
`sandbox_unavailable_reason()` says why and callers refuse the verification.
"""

from __future__ import annotations

import errno
import functools
import glob
import os
import selectors
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass

OUTPUT_CAP_BYTES = 64 * 1024
SOURCE_MAX_BYTES = 1024 * 1024
WORK_DIR = "/work"
SANDBOX_UID = 65534
# A fresh namespace's loopback is empty, but a socket is never needed to check code: refusing
# it also refuses abstract Unix sockets and netlink.
_FORBIDDEN_SYSCALLS = (
    "fork",
    "vfork",
    "socket",
    "socketpair",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "open_by_handle_at",
    "name_to_handle_at",
)
_CLONE_THREAD = 0x00010000

# Runs inside the sandbox with `python -I -S`: reads the program from stdin, writes it to the
# work directory (so tracebacks show its lines), lowers the limits, then runs it as __main__.
_BOOTSTRAP = r"""
import os, resource, runpy, sys
cpu, memory_mb, source_max = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
source = sys.stdin.buffer.read(source_max + 1)
if len(source) > source_max:
    sys.exit("sandbox: the program is too long")
with open("candidate.py", "wb") as handle:
    handle.write(source)
os.close(0)
os.open(os.devnull, os.O_RDONLY)
for limit, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, memory_mb * 1024 * 1024),
                     (resource.RLIMIT_FSIZE, 1024 * 1024), (resource.RLIMIT_NOFILE, 64),
                     (resource.RLIMIT_NPROC, 16), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(limit, (value, value))
del os, resource, cpu, memory_mb, source_max, source, handle, limit, value
runpy.run_path("candidate.py", run_name="__main__")
"""


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None  # None: killed at the wall-clock timeout
    stdout: bytes
    stderr: bytes
    stdout_dropped: int = 0  # bytes past the cap
    stderr_dropped: int = 0
    timed_out: bool = False

    @property
    def killed_by_signal(self) -> int | None:
        """bubblewrap reports a program killed by signal N as exit status 128 + N (the CPU
        limit ends in SIGKILL, since the soft and hard limits are the same)."""
        if self.returncode is None:
            return None
        if self.returncode < 0:
            return -self.returncode
        return self.returncode - 128 if self.returncode > 128 else None


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot run here: the code was not run."""


# --- the runtime that is bound into the sandbox ----------------------------------------------


def _interpreter() -> str:
    # The base interpreter, not a virtualenv's: `-I -S` runs the standard library only.
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _shared_libraries(binaries: list[str]) -> set[str]:
    """Every shared library (and the ELF loader) that these binaries load, from ldd."""
    found: set[str] = set()
    for start in range(0, len(binaries), 200):
        out = subprocess.run(
            ["ldd", *binaries[start : start + 200]], capture_output=True, text=True, check=False
        ).stdout
        for line in out.splitlines():
            for word in line.split():
                if word.startswith("/") and os.path.exists(word):
                    found.add(word)
    return found


@functools.cache
def _runtime_binds() -> tuple[tuple[str, str], ...]:
    """(source, destination) pairs of the read-only binds: the interpreter, its standard
    library, and each shared library at the path the loader looks for it and at its real path."""
    interpreter = _interpreter()
    stdlib = sysconfig.get_paths()["stdlib"]
    dynload = os.path.join(stdlib, "lib-dynload")
    binds = {interpreter: interpreter, stdlib: stdlib}
    if os.path.isdir(dynload) and not os.path.realpath(dynload).startswith(os.path.realpath(stdlib) + os.sep):
        binds[dynload] = dynload
    for library in _shared_libraries([interpreter, *glob.glob(os.path.join(dynload, "*.so"))]):
        binds[library] = library
        binds.setdefault(os.path.realpath(library), os.path.realpath(library))
    return tuple(sorted(binds.items()))


def _library_dirs() -> str:
    dirs = {os.path.dirname(dest) for _source, dest in _runtime_binds() if ".so" in os.path.basename(dest)}
    return ":".join(sorted(dirs))


@functools.cache
def _seccomp_program() -> bytes:
    """The compiled cBPF filter (libseccomp through pyseccomp): refuse process creation and
    the syscalls listed above with EPERM; threads (clone with CLONE_THREAD) stay allowed."""
    import pyseccomp as seccomp  # loads libseccomp.so.2 with ctypes: deferred so a missing library is a reason, not a crash

    flt = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in _FORBIDDEN_SYSCALLS:
        flt.add_rule(seccomp.ERRNO(errno.EPERM), name)
    flt.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))
    # clone3 passes its flags in a struct a filter cannot read; ENOSYS makes libc fall back to clone.
    flt.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as handle:
        flt.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def _bwrap_command(*, seccomp_fd: int, cpu_s: int, memory_mb: int, work_bytes: int) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    command = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--clearenv",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "PYTHONHASHSEED",
        "0",
        "--setenv",
        "HOME",
        WORK_DIR,
        "--setenv",
        "LD_LIBRARY_PATH",
        _library_dirs(),
    ]
    for source, dest in _runtime_binds():
        command += ["--ro-bind", source, dest]
    site_packages = os.path.join(sysconfig.get_paths()["stdlib"], "site-packages")
    if os.path.isdir(site_packages):  # the base install's packages are not part of the runtime
        command += ["--tmpfs", site_packages]
    command += [
        "--dev",
        "/dev",
        "--size",
        str(work_bytes),
        "--tmpfs",
        WORK_DIR,
        "--chdir",
        WORK_DIR,
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
        "--seccomp",
        str(seccomp_fd),
        "--",
        _interpreter(),
        "-I",
        "-S",
        "-B",
        "-c",
        _BOOTSTRAP,
        str(cpu_s),
        str(memory_mb),
        str(SOURCE_MAX_BYTES),
    ]
    return command


# --- running ---------------------------------------------------------------------------------


def _drain(process: subprocess.Popen, *, deadline: float, cap: int) -> tuple[dict, dict, bool]:
    """Read both pipes until they close or the deadline passes; keep `cap` bytes of each."""
    kept = {"stdout": bytearray(), "stderr": bytearray()}
    dropped = {"stdout": 0, "stderr": 0}
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(process.stderr, selectors.EVENT_READ, "stderr")
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return kept, dropped, True
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                room = cap - len(kept[key.data])
                kept[key.data] += chunk[: max(room, 0)]
                dropped[key.data] += max(len(chunk) - max(room, 0), 0)
    return kept, dropped, False


def run_python_sandboxed(
    source: str,
    *,
    cpu_s: int,
    wall_s: float,
    memory_mb: int,
    work_bytes: int = 16 * 1024 * 1024,
    output_cap: int = OUTPUT_CAP_BYTES,
) -> SandboxResult:
    """Run `source` as a Python program inside the sandbox. SandboxUnavailable when it cannot."""
    encoded = source.encode("utf-8", "surrogatepass")
    if len(encoded) > SOURCE_MAX_BYTES:
        raise ValueError(f"the program is over {SOURCE_MAX_BYTES} bytes")
    try:
        program = _seccomp_program()
    except (ImportError, OSError, AttributeError) as exc:
        raise SandboxUnavailable(f"libseccomp is not usable: {exc}") from exc
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)  # a few hundred bytes: fits the pipe buffer
        os.close(write_end)
        write_end = -1
        command = _bwrap_command(seccomp_fd=read_end, cpu_s=cpu_s, memory_mb=memory_mb, work_bytes=work_bytes)
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(read_end,),
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin"},
        )
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    try:
        try:
            process.stdin.write(encoded)
            process.stdin.close()
        except BrokenPipeError:  # bubblewrap failed before reading: its stderr says why
            pass
        kept, dropped, timed_out = _drain(process, deadline=time.monotonic() + wall_s, cap=output_cap)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)  # bubblewrap dies, and the pid namespace with it
        process.wait()
        for pipe in (process.stdout, process.stderr):
            pipe.close()
    return SandboxResult(
        returncode=None if timed_out else process.returncode,
        stdout=bytes(kept["stdout"]),
        stderr=bytes(kept["stderr"]),
        stdout_dropped=dropped["stdout"],
        stderr_dropped=dropped["stderr"],
        timed_out=timed_out,
    )


_PROBE_OK = "sandbox-probe-ok"
_probe_cache: dict[str, tuple[float, str | None]] = {}
_PROBE_TTL_S = 300.0


def sandbox_unavailable_reason() -> str | None:
    """None when the sandbox works here; otherwise why not (checked by running a probe,
    remembered for a few minutes)."""
    cached = _probe_cache.get("probe")
    if cached and time.monotonic() - cached[0] < _PROBE_TTL_S:
        return cached[1]
    try:
        result = run_python_sandboxed(f"print({_PROBE_OK!r})", cpu_s=5, wall_s=20, memory_mb=256)
        reason = (
            None
            if result.returncode == 0 and result.stdout.strip() == _PROBE_OK.encode()
            else (
                "bubblewrap could not start the sandbox: "
                + (result.stderr.decode("utf-8", "replace").strip()[-300:] or f"exit status {result.returncode}")
            )
        )
    except SandboxUnavailable as exc:
        reason = str(exc)
    _probe_cache["probe"] = (time.monotonic(), reason)
    return reason
