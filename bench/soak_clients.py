"""The chat product's side of the soak: clients that send live sessions turn by turn, with
feedback, through the ingest API, retrying as a real client would, and keeping their own log
of every event and what the server answered."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field

_TOPICS = (
    "a sourdough starter",
    "the bus timetable",
    "a python decorator",
    "my tomato plants",
    "a birthday speech",
    "the quarterly budget",
    "a bicycle chain",
    "the moon landing",
    "a job interview",
    "the rust borrow checker",
    "a wedding toast",
    "solar panels",
    "a cover letter",
    "the french revolution",
    "a leaking faucet",
    "marathon training",
    "a chess opening",
    "the tax return",
    "a podcast intro",
    "winter tyres",
)
_ASKS = (
    "Could you explain how {topic} works when {detail}?",
    "I need help with {topic}; what should I check first if {detail}?",
    "What is the usual mistake people make with {topic} when {detail}?",
    "Can you give me three steps for {topic}, given that {detail}?",
    "Why does {topic} behave differently when {detail}?",
)
_DETAILS = (
    "the weather turns cold",
    "I only have {n} minutes",
    "the budget is {n} euros",
    "my neighbour has tried it {n} times",
    "it has to be ready by day {n}",
    "there are {n} people involved",
    "the old version broke after {n} weeks",
)
_ANSWERS = (
    "Start with the basics of {topic}: measure what you have, then change one thing at a time.",
    "The common cause with {topic} is rushing the first step; give it {n} minutes and check again.",
    "For {topic}, write down the current state, compare it with a known good example, then adjust.",
    "Most guides on {topic} agree: keep notes, repeat the test {n} times, and keep what works.",
)


def _fill(template: str, rng: random.Random, topic: str) -> str:
    detail = rng.choice(_DETAILS).format(n=rng.randrange(2, 500))
    return template.format(topic=topic, detail=detail, n=rng.randrange(2, 90))


@dataclass
class Event:
    """One message or feedback item, as the client saw it."""

    kind: str  # "message" or "feedback"
    id: str
    session: str
    attempts: int = 0  # requests that carried it (more than one: it was retried)
    acked: bool = False  # a 200 whose result for this item was not an error
    rejected: str = ""  # the error the server gave this item, if any
    rating: int = 0  # feedback only
    message_id: str = ""  # feedback only: the answer it rates


@dataclass
class ClientLog:
    events: dict[str, Event] = field(default_factory=dict)
    requests: int = 0
    failed_requests: int = 0  # connection errors and 5xx, retried
    statuses: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_status(self, status: str) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1


class Client(threading.Thread):
    """Sends sessions of a few turns each, one turn every `turn_interval` seconds, until
    `stop_at`; then finishes the session it is in. Every request is retried until the server
    answers 200 or `give_up_at` passes."""

    def __init__(
        self,
        *,
        index: int,
        run: str,
        port: int,
        api_key: str,
        log: ClientLog,
        stop_at: float,
        give_up_at: float,
        turn_interval: float,
        seed: int,
    ):
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.index, self.run_id, self.port, self.api_key = index, run, port, api_key
        self.log, self.stop_at, self.give_up_at, self.turn_interval = log, stop_at, give_up_at, turn_interval
        self.rng = random.Random(seed * 1000 + index)
        self.sessions = 0

    def run(self) -> None:
        while time.monotonic() < self.stop_at:
            self._one_session()

    def _one_session(self) -> None:
        rng = self.rng
        sid = f"{self.run_id}-c{self.index}-s{self.sessions}"
        self.sessions += 1
        topic = rng.choice(_TOPICS)
        for turn in range(rng.randint(2, 4)):
            started = time.monotonic()
            user_id, answer_id = f"{sid}-t{turn}-u", f"{sid}-t{turn}-a"
            messages = [
                {"id": user_id, "role": "user", "content": _fill(rng.choice(_ASKS), rng, topic)},
                {"id": answer_id, "role": "assistant", "content": _fill(rng.choice(_ANSWERS), rng, topic)},
            ]
            events = [self._event("message", m["id"], sid) for m in messages]
            body = {"sessions": [{"id": sid, "app": "soak", "user_id": f"user-{self.index}", "messages": messages}]}
            self._send(body, {"sessions": [events]})
            if rng.random() < 0.6:
                rating = -1 if rng.random() < 0.6 else 1
                fid = f"{answer_id}-fb"
                event = self._event("feedback", fid, sid, rating=rating, message_id=answer_id)
                feedback = {"id": fid, "message_id": answer_id, "rating": rating}
                if rating == -1:
                    feedback["comment"] = "That did not answer my question."
                self._send({"feedback": [feedback]}, {"feedback": [[event]]})
            if time.monotonic() >= self.stop_at:
                return
            time.sleep(max(0.0, self.turn_interval - (time.monotonic() - started)))

    def _event(self, kind: str, event_id: str, session: str, **fields) -> Event:
        event = Event(kind=kind, id=event_id, session=session, **fields)
        with self.log.lock:
            self.log.events[event_id] = event
        return event

    def _send(self, body: dict, events_by_list: dict[str, list[list[Event]]]) -> None:
        """POST until a 200 (or give up); then mark each item's events from its own result."""
        data = json.dumps(body).encode()
        attempt = 0
        while True:
            attempt += 1
            for items in events_by_list.values():
                for events in items:
                    for event in events:
                        event.attempts += 1
            status, answer = self._post(data)
            with self.log.lock:
                self.log.requests += 1
            self.log.count_status(str(status))
            if status == 200:
                break
            with self.log.lock:
                self.log.failed_requests += 1
            if time.monotonic() > self.give_up_at:
                return
            # Exponential back-off with jitter, as a client library would do it.
            time.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + self.rng.random()))
        for key, items in events_by_list.items():
            for result, events in zip(answer[key], items):
                for event in events:
                    if result["status"] == "error":
                        event.rejected = result.get("error") or "error"
                    else:
                        event.acked = True

    def _post(self, data: bytes) -> tuple[int | str, dict | None]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(
                "POST",
                "/api/v1/ingest/",
                body=data,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
            )
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                return response.status, None
            return 200, json.loads(payload)
        except (OSError, http.client.HTTPException, json.JSONDecodeError) as exc:
            return type(exc).__name__, None
        finally:
            connection.close()
