"""An OpenAI-compatible server on loopback: the stand-in for the remote LLM in tests.

It answers POST /v1/chat/completions (and GET /v1/models) like a real server, through a
`responder(request_json) -> str` that tests set, and it can be scripted to misbehave for the
next requests: broken JSON content, a broken HTTP body, 429 with Retry-After, 500, or a slow
answer. Every request is recorded.

    server.responder = lambda req: '{"task_type": "qa", ...}'
    server.script(RateLimited(retry_after=1), ServerError(), Reply("ok"))
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    content: str


@dataclass
class BrokenBody:
    """HTTP 200 whose body is cut off mid-JSON."""


@dataclass
class RateLimited:
    retry_after: float = 1.0


@dataclass
class ServerError:
    status: int = 500


@dataclass
class Slow:
    seconds: float
    then: object | None = None  # what to answer after the delay (default: the responder)


def _default_responder(request: dict) -> str:
    return "OK"


class FakeOpenAIServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.responder: Callable[[dict], str | object] = _default_responder
        self._script: deque = deque()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, json.dumps({"object": "list", "data": [{"id": "test-model", "object": "model"}]}).encode()
                    )
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, b'{"error": {"message": "bad request body"}}')
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                with server._lock:
                    server.requests.append(request)
                    behaviour = server._script.popleft() if server._script else None
                server._answer(self, request, behaviour)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *behaviours) -> None:
        """Queue behaviours for the next requests, one each; then the responder answers."""
        with self._lock:
            self._script.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
        self.responder = _default_responder

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- answering -----------------------------------------------------------------------
    def _answer(self, handler, request: dict, behaviour) -> None:
        if isinstance(behaviour, Slow):
            time.sleep(behaviour.seconds)
            behaviour = behaviour.then
        if isinstance(behaviour, RateLimited):
            body = json.dumps({"error": {"message": "rate limited", "type": "rate_limit_error"}}).encode()
            handler._send(429, body, {"Retry-After": str(behaviour.retry_after)})
            return
        if isinstance(behaviour, ServerError):
            handler._send(behaviour.status, b'{"error": {"message": "internal error", "type": "server_error"}}')
            return
        if isinstance(behaviour, BrokenBody):
            handler._send(200, b'{"id": "chatcmpl-broken", "choices": [{"mess')
            return
        n = int(request.get("n") or 1)
        contents = []
        for index in range(n):
            answer = behaviour if behaviour is not None else self.responder({**request, "_choice_index": index})
            contents.append(answer.content if isinstance(answer, Reply) else str(answer))
        prompt_chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
        completion_chars = sum(len(c) for c in contents)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "test-model"),
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": c}, "finish_reason": "stop"}
                for i, c in enumerate(contents)
            ],
            "usage": {
                "prompt_tokens": max(1, prompt_chars // 4),
                "completion_tokens": max(1, completion_chars // 4),
                "total_tokens": max(1, prompt_chars // 4) + max(1, completion_chars // 4),
            },
        }
        handler._send(200, json.dumps(body).encode())
