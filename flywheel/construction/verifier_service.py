"""The code verifier as a service of its own, for deployments that keep untrusted code away from
the workers that hold secrets (docker-compose's `verifier`: no network, no secrets, no data).

A worker with `FLYWHEEL_VERIFIER_SOCKET` set sends each program over that Unix socket; the
service runs it in the same bubblewrap sandbox (`sandbox.py`) and answers with the result. One
JSON line each way. Nothing here imports Django: the service runs with an empty environment.

    python -m flywheel.construction.verifier_service --socket /run/verifier/verifier.sock
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import socketserver
import stat
from pathlib import Path

from flywheel.construction.sandbox import (
    SOURCE_MAX_BYTES,
    SandboxResult,
    SandboxUnavailable,
    run_python_sandboxed,
    sandbox_unavailable_reason,
)

# A request is the program plus a few numbers; JSON escaping can at most double-and-a-bit it.
REQUEST_MAX_BYTES = 3 * SOURCE_MAX_BYTES
LIMIT_NAMES = ("cpu_s", "wall_s", "memory_mb")


def _result_to_json(result: SandboxResult) -> dict:
    return {
        "returncode": result.returncode,
        "timed_out": result.timed_out,
        "stdout": base64.b64encode(result.stdout).decode(),
        "stderr": base64.b64encode(result.stderr).decode(),
        "stdout_dropped": result.stdout_dropped,
        "stderr_dropped": result.stderr_dropped,
    }


def _result_from_json(data: dict) -> SandboxResult:
    return SandboxResult(
        returncode=data["returncode"],
        timed_out=data["timed_out"],
        stdout=base64.b64decode(data["stdout"]),
        stderr=base64.b64decode(data["stderr"]),
        stdout_dropped=data["stdout_dropped"],
        stderr_dropped=data["stderr_dropped"],
    )


def answer(request_line: bytes) -> dict:
    """The service's answer to one request line: {"result": ...}, {"unavailable": why} or
    {"error": why} for a request it cannot read."""
    if len(request_line) > REQUEST_MAX_BYTES:
        return {"error": f"the request is over {REQUEST_MAX_BYTES} bytes"}
    try:
        request = json.loads(request_line)
        source = request["source"]
        limits = {name: int(request[name]) for name in LIMIT_NAMES}
        if not isinstance(source, str) or min(limits.values()) < 1:
            raise ValueError("source must be text and every limit at least 1")
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"unreadable request: {exc}"}
    reason = sandbox_unavailable_reason()
    if reason:
        return {"unavailable": reason}
    try:
        return {"result": _result_to_json(run_python_sandboxed(source, **limits))}
    except SandboxUnavailable as exc:
        return {"unavailable": str(exc)}
    except ValueError as exc:
        return {"error": str(exc)}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(REQUEST_MAX_BYTES + 1)
        self.wfile.write(json.dumps(answer(line)).encode() + b"\n")


class VerifierServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def serve(socket_path: str) -> VerifierServer:
    """Bind the socket (only its owner's group may connect) and return the server, not yet serving."""
    path = Path(socket_path)
    if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
        path.unlink()  # a socket left by a previous run of this service
    server = VerifierServer(str(path), _Handler)
    os.chmod(path, 0o660)
    return server


def run_remote(socket_path: str, source: str, *, cpu_s: int, wall_s: float, memory_mb: int) -> SandboxResult:
    """Send one program to the service. SandboxUnavailable when the service cannot run it (or
    cannot be reached); ValueError when it refused the request."""
    request = json.dumps({"source": source, "cpu_s": cpu_s, "wall_s": int(wall_s), "memory_mb": memory_mb})
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(wall_s + 30)  # the service kills the program at wall_s
            connection.connect(socket_path)
            connection.sendall(request.encode() + b"\n")
            reply = connection.makefile("rb").readline(4 * 1024 * 1024)
    except OSError as exc:
        raise SandboxUnavailable(f"the verifier service at {socket_path} is not reachable: {exc}") from exc
    try:
        data = json.loads(reply)
    except ValueError:
        raise SandboxUnavailable(f"the verifier service at {socket_path} answered nonsense") from None
    if "unavailable" in data:
        raise SandboxUnavailable(f"the verifier service cannot run code: {data['unavailable']}")
    if "error" in data:
        raise ValueError(data["error"])
    return _result_from_json(data["result"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="path of the Unix socket to listen on")
    args = parser.parse_args(argv)
    reason = sandbox_unavailable_reason()
    print(
        f"verifier service on {args.socket}: " + (f"cannot run code ({reason})" if reason else "sandbox ready"),
        flush=True,
    )
    with serve(args.socket) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
