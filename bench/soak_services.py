"""The services bench/soak.py starts, owns and breaks: a private PostgreSQL cluster, a private
Redis, and the stack's own processes (gunicorn, Celery workers, beat).

Everything listens on a free loopback port and lives in one temporary directory, so a fault
never touches a server the soak did not start.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Service:
    """One process (group) started from a command line, restartable, its log kept."""

    def __init__(self, name: str, command: list[str], *, workdir: Path, env: dict, user: str | None = None):
        self.name, self.command, self.env, self.user = name, command, env, user
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Service:
        log = open(self.log_path, "ab")
        log.write(f"\n--- start {self.starts + 1} ---\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes its children too
            user=self.user,
        )
        log.close()
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown handler runs, nothing is acknowledged."""
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=60)

    def pids(self) -> list[int]:
        """The main process and its descendants."""
        if not self.alive():
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root.pid] + [child.pid for child in root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL's initdb was not found (install the postgresql package)")


class Postgres:
    """A private cluster made with initdb. PostgreSQL refuses to run as root, so under root the
    cluster belongs to the `postgres` system user."""

    def __init__(self, root: Path):
        self.bin = self.binaries()
        self.port = free_port()
        self.data = root / "pgdata"
        self.sockets = root / "pgsock"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/flywheel"
        self.service: Service | None = None
        self.root = root

    @staticmethod
    def binaries() -> Path:
        return _postgres_bin()

    def init(self, template: Path | None = None) -> None:
        """A new cluster, or a copy of `template` (a stopped cluster's data directory)."""
        self.sockets.mkdir()
        if template is not None:
            shutil.copytree(template, self.data, symlinks=True)
        else:
            self.data.mkdir()
        if self.user:
            info = pwd.getpwnam(self.user)
            for path in (self.data, self.sockets):
                os.chown(path, info.pw_uid, info.pw_gid)
                for inner in path.rglob("*"):
                    os.lchown(inner, info.pw_uid, info.pw_gid)
            os.chmod(self.root, 0o755)
        os.chmod(self.data, 0o700)
        if template is None:
            initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            subprocess.run([*initdb, "--no-sync"], check=True, capture_output=True, user=self.user)
        command = [
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
            # A process crash (the fault here) loses nothing the OS has; fsync only guards
            # against power loss, which this soak does not simulate, and costs the busy disk.
            "-c",
            "fsync=off",
        ]
        self.service = Service("postgres", command, workdir=self.root, env=dict(os.environ), user=self.user)

    def start(self) -> None:
        self.service.start()
        wait_until(self.ready, timeout=60, what="PostgreSQL to accept connections")

    def ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
        )
        return result.returncode == 0

    def create_database(self) -> None:
        subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "flywheel"],
            check=True,
            capture_output=True,
        )

    def save_template(self, template: Path) -> None:
        """Stop cleanly and keep a copy of the data directory, to start the next soak from."""
        self.stop()
        partial = template.with_name(template.name + f".partial-{os.getpid()}")
        shutil.copytree(self.data, partial, symlinks=True)
        try:
            partial.rename(template)  # atomic: a concurrent soak sees all of it or nothing
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
        self.start()

    def restart(self) -> None:
        """Immediate shutdown (SIGQUIT to the postmaster): every connection drops mid-transaction
        and the next start runs crash recovery."""
        self.service.process.send_signal(signal.SIGQUIT)
        self.service.process.wait(timeout=60)
        self.start()

    def stop(self) -> None:
        if self.service and self.service.alive():
            self.service.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.service.kill()


class Redis:
    """A private redis-server without persistence: a restart loses every queued message."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        server = shutil.which("redis-server")
        if not server:
            raise RuntimeError("redis-server was not found (install the redis-server package)")
        command = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(root)]
        self.service = Service("redis", command, workdir=root, env=dict(os.environ))

    def start(self) -> None:
        self.service.start()
        wait_until(lambda: _port_open(self.port), timeout=30, what="Redis to listen")

    def restart(self) -> None:
        self.service.kill()
        self.start()


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "flywheel", *args]


def gunicorn_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "flywheel.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "60",
    ]


def gunicorn_workers(master: Service) -> list[int]:
    if not master.alive():
        return []
    try:
        return [child.pid for child in psutil.Process(master.process.pid).children()]
    except psutil.NoSuchProcess:
        return []


def gunicorn_workers_serving(master: Service, port: int) -> list[int]:
    """Workers holding an accepted client connection: they are in the middle of a request."""
    serving = []
    for pid in gunicorn_workers(master):
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port for c in connections):
            serving.append(pid)
    return serving


def port_open(port: int) -> bool:
    return _port_open(port)
