"""Ingest over a real HTTP connection: a request cut off mid-body, concurrent appends to one
live session, and one batch of new sessions sent by several clients at once."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from http.client import HTTPConnection

import pytest

from flywheel.ingest.models import ChatSession, Feedback, Message

pytestmark = pytest.mark.django_db(transaction=True)


def batch_body(session_id: str, messages: list[tuple[str, str, str]]) -> bytes:
    return json.dumps(
        {
            "sessions": [
                {
                    "id": session_id,
                    "messages": [{"id": mid, "role": role, "content": text} for mid, role, text in messages],
                }
            ]
        }
    ).encode()


def post(live_server, api_key, body: bytes) -> tuple[int, dict]:
    url = urllib.parse.urlparse(live_server.url)
    connection = HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request(
        "POST",
        "/api/v1/ingest/",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_a_batch_cut_off_mid_request_writes_nothing_and_its_resend_writes_it_once(live_server, api_key):
    body = batch_body("cut", [("cut-1", "user", "hello " * 200), ("cut-2", "assistant", "hi " * 200)])
    url = urllib.parse.urlparse(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw:
        head = (
            f"POST /api/v1/ingest/ HTTP/1.1\r\nHost: {url.hostname}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        raw.sendall(head.encode() + body[: len(body) // 2])
        raw.shutdown(socket.SHUT_WR)  # the client goes away half-way through the body
        answer = raw.recv(4096).decode(errors="replace")
    assert not answer or " 400 " in answer.splitlines()[0]
    assert ChatSession.objects.count() == 0
    for _ in range(2):
        status, _ = post(live_server, api_key, body)
        assert status == 200
    assert ChatSession.objects.count() == 1 and Message.objects.count() == 2


def test_concurrent_appends_to_one_live_session_get_distinct_consecutive_positions(live_server, api_key):
    post(live_server, api_key, batch_body("live", [("live-0", "user", "start")]))
    errors = []

    def append(worker: int):
        for turn in range(5):
            status, result = post(
                live_server,
                api_key,
                batch_body(
                    "live",
                    [(f"live-{worker}-{turn}", "user" if turn % 2 == 0 else "assistant", f"turn {worker}.{turn}")],
                ),
            )
            if status != 200 or result["counts"]["errors"]:
                errors.append(result)

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    positions = list(Message.objects.filter(session__external_id="live").order_by("seq").values_list("seq", flat=True))
    assert positions == list(range(1, 32))


def test_one_batch_of_new_sessions_sent_by_six_clients_at_once_is_written_once(live_server, api_key):
    sessions = [
        {
            "id": f"race-{n}",
            "messages": [
                {"id": f"race-{n}-u", "role": "user", "content": f"question {n}"},
                {"id": f"race-{n}-a", "role": "assistant", "content": f"answer {n}"},
            ],
        }
        for n in range(20)
    ]
    body = json.dumps(
        {
            "sessions": sessions,
            "feedback": [{"id": f"race-{n}-fb", "message_id": f"race-{n}-a", "rating": 1} for n in range(0, 20, 2)],
        }
    ).encode()
    start = threading.Barrier(6)
    responses = []

    def send():
        start.wait()
        responses.append(post(live_server, api_key, body))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in responses] == [200] * 6
    assert all(result["counts"].get("errors", 0) == 0 for _, result in responses)
    # Each session and each feedback item was created by exactly one of the six requests.
    for n in range(20):
        statuses = [result["sessions"][n]["status"] for _, result in responses]
        assert statuses.count("created") == 1 and statuses.count("unchanged") == 5
    assert sum(result["counts"].get("feedback_created", 0) for _, result in responses) == 10
    assert ChatSession.objects.filter(external_id__startswith="race-").count() == 20
    assert Message.objects.filter(external_id__startswith="race-").count() == 40
    assert Feedback.objects.filter(external_id__startswith="race-").count() == 10


def test_two_sessions_claiming_the_same_message_ids_in_opposite_orders_never_deadlock(live_server, api_key):
    """Rows are written in id order in every request, so the loser waits and is refused
    instead of the database breaking a deadlock with a 500."""
    for attempt in range(8):
        first, second = f"dl{attempt}-a", f"dl{attempt}-b"
        bodies = [
            batch_body(f"dl{attempt}-x", [(first, "user", "x1"), (second, "assistant", "x2")]),
            batch_body(f"dl{attempt}-y", [(second, "user", "y1"), (first, "assistant", "y2")]),
        ]
        start = threading.Barrier(2)
        responses = []

        def send(body):
            start.wait()  # noqa: B023
            responses.append(post(live_server, api_key, body))  # noqa: B023

        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in responses] == [200, 200]
        assert sorted(result["sessions"][0]["status"] for _, result in responses) == ["created", "error"]
        owners = set(Message.objects.filter(external_id__in=[first, second]).values_list("session_id", flat=True))
        assert len(owners) == 1 and Message.objects.filter(external_id__in=[first, second]).count() == 2
        assert ChatSession.objects.filter(external_id__startswith=f"dl{attempt}-").count() == 1
