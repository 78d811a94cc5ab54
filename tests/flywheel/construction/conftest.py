"""Fixtures of the construction tests: a scripted teacher and judge on the OpenAI-compatible
test server, and bad cases mined from real ingested conversations."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.factories import FeedbackFactory, session_with_turns

TEACHER, JUDGE = "teacher-model", "judge-model"


def request_kind(request: dict) -> str:
    """teacher, pointwise, pairwise, synth (a JSON prompt-writing call) or answer."""
    data = request_data(request)
    if "candidate_answer" in data:
        return "pointwise"
    if "answer_A" in data:
        return "pairwise"
    if request.get("model") == JUDGE:
        return "judge?"
    if "instruction" in data:
        return "synth"
    return "teacher"


def request_data(request: dict) -> dict:
    """The JSON data of a judge or synthesis request (its first user message)."""
    for message in request.get("messages", []):
        if message.get("role") == "user":
            try:
                value = json.loads(message.get("content") or "")
            except (TypeError, ValueError):
                return {}
            return value if isinstance(value, dict) else {}
    return {}


@dataclass
class Script:
    """What the scripted models answer.

    teacher: the i-th teacher choice of each request (cycled), or a callable(request, index).
    scores: candidate text -> pointwise score (default 5), or a callable(text) returning the
    reply content itself (for nonsense). pairwise: callable(answer_a, answer_b) -> "A"|"B"|"tie";
    default: by the scores.
    """

    teacher: list[str] | Callable = field(default_factory=lambda: ["Teacher answer one.", "Teacher answer two."])
    scores: dict[str, float] = field(default_factory=dict)
    default_score: float = 5.0
    pointwise_reply: Callable[[str], str] | None = None
    pairwise: Callable[[str, str], str] | None = None
    synth: Callable[[dict], str] | None = None
    delay_s: float = 0.0  # answer slowly (to kill a worker mid-run)
    calls: list[str] = field(default_factory=list)

    def score(self, text: str) -> float:
        return self.scores.get(text, self.default_score)

    def __call__(self, request: dict):
        if self.delay_s and request.get("_choice_index", 0) == 0:
            time.sleep(self.delay_s)
        kind = request_kind(request)
        self.calls.append(kind)
        data = request_data(request)
        if kind == "pointwise":
            if self.pointwise_reply:
                return self.pointwise_reply(data["candidate_answer"])
            return json.dumps({"score": self.score(data["candidate_answer"]), "reasons": "scripted"})
        if kind == "pairwise":
            a, b = data["answer_A"], data["answer_B"]
            if self.pairwise:
                winner = self.pairwise(a, b)
            else:
                winner = "A" if self.score(a) > self.score(b) else "B" if self.score(b) > self.score(a) else "tie"
            return json.dumps({"winner": winner, "reasons": "scripted"})
        if kind == "synth":
            return self.synth(request) if self.synth else json.dumps({"prompt": "A scripted new prompt."})
        index = request["_choice_index"]
        if callable(self.teacher):
            return self.teacher(request, index)
        return self.teacher[index % len(self.teacher)]


@pytest.fixture
def models(settings, monkeypatch):
    settings.FLYWHEEL_TEACHER_MODEL, settings.FLYWHEEL_JUDGE_MODEL = TEACHER, JUDGE
    monkeypatch.setenv("FLYWHEEL_TEACHER_MODEL", TEACHER)
    monkeypatch.setenv("FLYWHEEL_JUDGE_MODEL", JUDGE)


@pytest.fixture
def script(openai_server, models) -> Script:
    script = Script()
    openai_server.responder = script
    return script


def mine() -> dict:
    """Clean and mine what is pending, as the pipeline does before construction."""
    from flywheel.pipeline.services import pipeline_run

    return pipeline_run(only={"cleaning", "badcases"})


def thumbs_down_conversation(
    prompt: str = "What is the capital of Australia?",
    answer: str = "The capital of Australia is Sydney.",
    **session_fields,
):
    session = session_with_turns([("user", prompt), ("assistant", answer)], **session_fields)
    FeedbackFactory(message=session.messages.get(seq=2), rating=-1, comment="wrong city")
    return session


@pytest.fixture
def bad_case(db):
    """One mined bad case: a wrong answer with a thumbs-down."""
    from flywheel.construction.models import BadCase

    session = thumbs_down_conversation()
    mine()
    return BadCase.objects.get(message__session=session)


def run_construction(*, limit: int = 10, **config) -> dict:
    from flywheel.construction.services import construction_run_create, construction_run_execute

    run = construction_run_create(limit=limit, config=config, with_job=False)
    return construction_run_execute(run_id=run.id)
