"""Fixtures of the evaluation tests: a scripted judge and two candidate models on the
OpenAI-compatible test server, and a small evaluation set file."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO

import pytest
from django.core.management import call_command

JUDGE = "judge-model"
NEW, OLD = "new-model", "old-model"

ITEMS = [
    {
        "messages": [{"role": "user", "content": "What is 6 times 7?"}, {"role": "assistant", "content": "42"}],
        "task_type": "math",
    },
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
        "task_type": "qa",
    },
    {"messages": [{"role": "user", "content": "Say hello."}], "task_type": "brand-new-type"},
]


def request_data(request: dict) -> dict:
    for message in request.get("messages", []):
        if message.get("role") == "user":
            try:
                value = json.loads(message.get("content") or "")
            except (TypeError, ValueError):
                return {}
            return value if isinstance(value, dict) else {}
    return {}


@dataclass
class Judge:
    """Candidates answer from `answers[model]`; the pointwise judge scores by `score(answer)` on
    every dimension; the pairwise judge picks by `pairwise(answer_a, answer_b)` (default: by score)."""

    answers: dict = field(default_factory=lambda: {NEW: "A good and complete answer.", OLD: "Meh."})
    score: Callable[[str], float] = lambda text: 8.0 if "good" in text else 4.0
    pairwise: Callable[[str, str], str] | None = None
    pointwise_reply: Callable[[dict], str] | None = None
    calls: list[str] = field(default_factory=list)

    def __call__(self, request: dict):
        data = request_data(request)
        if "candidate_answer" in data:
            self.calls.append("pointwise")
            if self.pointwise_reply:
                return self.pointwise_reply(data)
            value = self.score(data["candidate_answer"])
            dims = ["helpfulness", "honesty", "harmlessness", "instruction_following"]
            return json.dumps({"scores": {d: value for d in dims}, "reasons": "scripted"})
        if "answer_A" in data:
            self.calls.append("pairwise")
            a, b = data["answer_A"], data["answer_B"]
            if self.pairwise:
                return json.dumps({"winner": self.pairwise(a, b), "reasons": "scripted"})
            winner = "A" if self.score(a) > self.score(b) else "B" if self.score(b) > self.score(a) else "tie"
            return json.dumps({"winner": winner, "reasons": "scripted"})
        self.calls.append(f"answer:{request.get('model')}")
        return self.answers[request["model"]]


@pytest.fixture
def judge(openai_server, settings, monkeypatch) -> Judge:
    settings.FLYWHEEL_JUDGE_MODEL = JUDGE
    settings.FLYWHEEL_LLM_BACKOFF_BASE_S = 0.01
    settings.FLYWHEEL_LLM_MAX_RETRIES = 1
    monkeypatch.setenv("FLYWHEEL_JUDGE_MODEL", JUDGE)
    script = Judge()
    openai_server.responder = script
    return script


@pytest.fixture
def items_file(tmp_path):
    def write(items=ITEMS, name="items.jsonl"):
        path = tmp_path / name
        path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
        return path

    return write


def command_json(*args) -> dict:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])
