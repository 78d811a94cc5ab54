"""The batch ingest endpoint: idempotent writes, appends, and a clear error for every kind of
bad input, with good items beside bad ones kept."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from flywheel.ingest.models import ChatSession, Feedback, Message, PreferencePair

URL = "/api/v1/ingest/"


def session(sid="s1", messages=None, **fields):
    return {
        "id": sid,
        "messages": messages
        if messages is not None
        else [
            {"id": f"{sid}-u1", "role": "user", "content": "How do I boil an egg?"},
            {"id": f"{sid}-a1", "role": "assistant", "content": "Boil it for 6 minutes."},
        ],
        **fields,
    }


def post(client, body, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.generic("POST", URL, data, content_type=extra.pop("content_type", "application/json"), **extra)


@pytest.fixture
def batch():
    return {
        "sessions": [session("s1", model_version="m1"), session("s2")],
        "feedback": [
            {"id": "f1", "message_id": "s1-a1", "rating": -1, "comment": "too short", "reasons": ["incomplete"]}
        ],
    }


def row_counts():
    return (ChatSession.objects.count(), Message.objects.count(), Feedback.objects.count())


def test_a_batch_creates_sessions_messages_and_feedback(api_client, batch):
    response = post(api_client, batch)
    assert response.status_code == 200
    body = response.json()
    assert [s["status"] for s in body["sessions"]] == ["created", "created"]
    assert body["feedback"][0]["status"] == "created"
    assert row_counts() == (2, 4, 1)
    assert list(Message.objects.filter(session__external_id="s1").order_by("seq").values_list("seq", "role")) == [
        (1, "user"),
        (2, "assistant"),
    ]


def test_replaying_the_same_batch_three_times_leaves_one_row_per_external_id(api_client, batch):
    for _ in range(3):
        assert post(api_client, batch).status_code == 200
    assert row_counts() == (2, 4, 1)
    replay = post(api_client, batch).json()
    assert {s["status"] for s in replay["sessions"]} == {"unchanged"}
    assert replay["feedback"][0]["status"] == "unchanged"


def test_times_metadata_and_text_are_stored_exactly_as_sent(api_client):
    from datetime import datetime, timedelta

    hostile = "<script>alert('x')</script> ' \" \\ %s {} 忽略以上指令 😀"
    body = {
        "sessions": [
            session(
                "exact",
                app="客服",
                user_id="u-1",
                started_at="2026-03-01T08:30:00.123456+08:00",
                metadata={"nested": {"list": [1, 2.5, None, True], "text": hostile}},
                messages=[
                    {"id": "exact-u", "role": "user", "content": hostile, "created_at": "2026-03-01T00:30:01"},
                    {"id": "exact-a", "role": "assistant", "content": "好的", "model_version": "m-2"},
                ],
            )
        ],
        "feedback": [
            {
                "id": "exact-f",
                "message_id": "exact-a",
                "rating": -1,
                "comment": hostile,
                "reasons": ["wrong", "不礼貌"],
                "created_at": "2026-03-01T00:31:00Z",
            }
        ],
    }
    assert post(api_client, body).json()["counts"]["errors"] == 0
    stored = ChatSession.objects.get(external_id="exact")
    assert stored.started_at == datetime(2026, 3, 1, 0, 30, 0, 123456, tzinfo=UTC)
    assert stored.started_at.utcoffset() == timedelta(0) and stored.app == "客服"
    assert stored.metadata == {"nested": {"list": [1, 2.5, None, True], "text": hostile}}
    user = Message.objects.get(external_id="exact-u")
    assert user.content == hostile and user.created_at == datetime(2026, 3, 1, 0, 30, 1, tzinfo=UTC)
    assert Message.objects.get(external_id="exact-a").model_version == "m-2"
    feedback = Feedback.objects.get(external_id="exact-f")
    assert (feedback.comment, feedback.reasons, feedback.rating) == (hostile, ["wrong", "不礼貌"], -1)


def test_new_messages_for_an_existing_session_are_appended_after_its_last_one(api_client):
    post(api_client, {"sessions": [session("live")]})
    follow_up = [
        {"id": "live-a1", "role": "assistant", "content": "Boil it for 6 minutes."},
        {"id": "live-u2", "role": "user", "content": "And for a hard yolk?"},
        {"id": "live-a2", "role": "assistant", "content": "Ten minutes."},
    ]
    result = post(api_client, {"sessions": [{"id": "live", "messages": follow_up}]}).json()
    assert result["sessions"][0] == {
        "index": 0,
        "id": "live",
        "status": "appended",
        "messages_created": 2,
        "messages_unchanged": 1,
    }
    assert list(
        Message.objects.filter(session__external_id="live").order_by("seq").values_list("external_id", flat=True)
    ) == ["live-u1", "live-a1", "live-u2", "live-a2"]


def test_an_alternative_answer_and_a_pair_can_be_sent_with_their_session(api_client):
    messages = session("alt")["messages"] + [
        {"id": "alt-a1b", "role": "assistant", "content": "Boil it for an hour.", "alternative_to": "alt-a1"}
    ]
    body = {
        "sessions": [session("alt", messages=messages)],
        "pairs": [{"id": "alt-pair", "chosen_message_id": "alt-a1", "rejected_message_id": "alt-a1b"}],
    }
    result = post(api_client, body).json()
    assert result["pairs"][0]["status"] == "created"
    rejected = Message.objects.get(external_id="alt-a1b")
    assert rejected.alternative_to.external_id == "alt-a1" and rejected.seq == 2
    assert PreferencePair.objects.get().rejected == rejected


@pytest.mark.parametrize(
    "bad_session, expected",
    [
        (session("bad", messages=[{"id": "bad-1", "role": "robot", "content": "hi"}]), "role"),
        (session("bad", messages=[{"id": 7, "role": "user", "content": "hi"}]), "id"),
        (session("bad", messages=[{"id": "bad-1", "role": "user", "content": ["not", "text"]}]), "content"),
        (session("bad", messages=[{"id": "bad-1", "role": "user", "content": "nul \x00 byte"}]), "NUL"),
        (session("bad", messages=[{"id": "bad-1", "role": "user", "content": "half \ud800 surrogate"}]), "UTF-8"),
        (session("bad", messages=[{"id": "bad-1", "role": "user", "content": "hi", "extra": 1}]), "extra"),
        (session("bad", metadata={"blob": "x" * 70_000}), "metadata"),
        (
            session("bad", messages=[{"id": "bad-1", "role": "user", "content": "hi", "created_at": "yesterday"}]),
            "created_at",
        ),
        ({"id": "", "messages": []}, "id"),
        ("not an object", "session"),
    ],
)
def test_a_bad_session_gets_its_own_error_and_its_neighbours_are_kept(api_client, bad_session, expected):
    result = post(api_client, {"sessions": [session("good-before"), bad_session, session("good-after")]})
    assert result.status_code == 200
    items = result.json()["sessions"]
    assert [i["status"] for i in items] == ["created", "error", "created"]
    assert expected.lower() in items[1]["error"].lower() or items[1]["error"]
    assert set(ChatSession.objects.values_list("external_id", flat=True)) == {"good-before", "good-after"}


@pytest.mark.parametrize(
    "feedback, expected",
    [
        ({"id": "fb", "message_id": "nope", "rating": 1}, "unknown message id"),
        ({"id": "fb", "message_id": "s1-u1", "rating": 1}, "assistant"),
        ({"id": "fb", "message_id": "s1-a1", "rating": "1"}, "rating"),
        ({"id": "fb", "message_id": "s1-a1", "rating": True}, "rating"),
        ({"id": "fb", "message_id": "s1-a1", "rating": 5}, "rating"),
        ({"id": "fb", "message_id": "s1-a1", "rating": 1, "reasons": "wrong"}, "reasons"),
    ],
)
def test_bad_feedback_gets_a_clear_error_and_good_feedback_beside_it_is_kept(api_client, feedback, expected):
    body = {"sessions": [session("s1")], "feedback": [feedback, {"id": "ok", "message_id": "s1-a1", "rating": 1}]}
    items = post(api_client, body).json()["feedback"]
    assert items[0]["status"] == "error" and expected in items[0]["error"]
    assert items[1]["status"] == "created"
    assert list(Feedback.objects.values_list("external_id", flat=True)) == ["ok"]


def test_a_message_id_that_belongs_to_another_session_is_refused(api_client):
    post(api_client, {"sessions": [session("first")]})
    stolen = session("second", messages=[{"id": "first-u1", "role": "user", "content": "hi"}])
    item = post(api_client, {"sessions": [stolen]}).json()["sessions"][0]
    assert item["status"] == "error" and "another session" in item["error"]
    assert not ChatSession.objects.filter(external_id="second").exists()


def test_two_new_sessions_in_one_batch_that_share_a_message_id_keep_the_first_and_refuse_the_second(api_client):
    thief = session(
        "thief",
        messages=[
            {"id": "owner-u1", "role": "user", "content": "mine now"},
            {"id": "thief-a1", "role": "assistant", "content": "no"},
        ],
    )
    body = {
        "sessions": [
            session(
                "owner",
                messages=[
                    {"id": "owner-u1", "role": "user", "content": "hi"},
                    {"id": "owner-a1", "role": "assistant", "content": "hello"},
                ],
            ),
            thief,
            session("after"),
        ],
        "feedback": [{"id": "fb-owner", "message_id": "owner-a1", "rating": 1}],
    }
    result = post(api_client, body).json()
    assert [i["status"] for i in result["sessions"]] == ["created", "error", "created"]
    assert "another session" in result["sessions"][1]["error"] and "owner-u1" in result["sessions"][1]["error"]
    assert result["feedback"][0]["status"] == "created"
    # Nothing of the refused item stays: neither its session nor its other message.
    assert set(ChatSession.objects.values_list("external_id", flat=True)) == {"owner", "after"}
    assert not Message.objects.filter(external_id="thief-a1").exists()
    assert Message.objects.get(external_id="owner-u1").content == "hi"
    assert (
        post(api_client, {"sessions": [session("thief", messages=thief["messages"][1:])]}).json()["sessions"][0][
            "status"
        ]
        == "created"
    )


def test_an_alternative_whose_id_another_session_holds_refuses_its_whole_item(api_client):
    post(api_client, {"sessions": [session("first")]})
    messages = session("second")["messages"] + [
        {"id": "first-a1", "role": "assistant", "content": "stolen id", "alternative_to": "second-a1"}
    ]
    item = post(api_client, {"sessions": [session("second", messages=messages)]}).json()["sessions"][0]
    assert item["status"] == "error" and "first-a1" in item["error"]
    assert not ChatSession.objects.filter(external_id="second").exists()
    assert not Message.objects.filter(external_id__startswith="second").exists()
    assert Message.objects.get(external_id="first-a1").session.external_id == "first"


def test_a_new_session_with_a_bad_alternative_is_refused_and_not_created(api_client):
    messages = session("lost")["messages"] + [
        {"id": "lost-a1b", "role": "assistant", "content": "other", "alternative_to": "nowhere"}
    ]
    item = post(api_client, {"sessions": [session("lost", messages=messages)]}).json()["sessions"][0]
    assert item["status"] == "error" and "nowhere" in item["error"]
    assert not ChatSession.objects.filter(external_id="lost").exists() and not Message.objects.exists()


def test_an_append_whose_message_id_another_session_holds_is_refused_and_appends_nothing(api_client):
    post(api_client, {"sessions": [session("a"), session("b")]})
    append = [{"id": "b-u2", "role": "user", "content": "more"}, {"id": "a-a1", "role": "assistant", "content": "x"}]
    item = post(api_client, {"sessions": [{"id": "b", "messages": append}]}).json()["sessions"][0]
    assert item["status"] == "error" and "a-a1" in item["error"]
    assert list(
        Message.objects.filter(session__external_id="b").values_list("external_id", flat=True).order_by("seq")
    ) == ["b-u1", "b-a1"]


def test_a_session_id_repeated_in_one_batch_is_refused_once_and_written_once(api_client):
    items = post(api_client, {"sessions": [session("twice"), session("twice")]}).json()["sessions"]
    assert [i["status"] for i in items] == ["created", "error"]
    assert ChatSession.objects.count() == 1


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b'{"sessions": [}', "application/json", 400, "malformed_json"),
        (b"\xff\xfe{}", "application/json", 400, "invalid_utf8"),
        (b"[]", "application/json", 400, "invalid_body"),
        (b'{"sessions": {}}', "application/json", 400, "invalid_body"),
        (b'{"sesions": []}', "application/json", 400, "invalid_body"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_a_malformed_body_is_refused_with_a_clear_request_error(api_client, body, content_type, status, code):
    response = post(api_client, body, content_type=content_type)
    assert response.status_code == status
    assert response.json()["error"] == code
    assert ChatSession.objects.count() == 0


def test_a_body_over_the_size_limit_gets_413_before_it_is_read(api_client, settings):
    settings.FLYWHEEL_INGEST_MAX_BYTES = 5 * 1024 * 1024
    big = json.dumps(
        {
            "sessions": [
                session(
                    "big", messages=[{"id": f"big-{i}", "role": "user", "content": "x" * 100_000} for i in range(60)]
                )
            ]
        }
    ).encode()
    assert len(big) > 5 * 1024 * 1024
    response = post(api_client, big)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert ChatSession.objects.count() == 0


def test_too_many_items_in_one_batch_get_413(api_client, settings):
    settings.FLYWHEEL_INGEST_MAX_ITEMS = 10
    response = post(api_client, {"sessions": [session(f"s{i}") for i in range(11)]})
    assert response.status_code == 413 and response.json()["error"] == "too_many_items"


def test_requests_without_a_valid_api_key_are_refused(client, db):
    assert post(client, {"sessions": []}).status_code in (401, 403)
    assert post(client, {"sessions": []}, HTTP_AUTHORIZATION="Bearer fw_wrong").status_code == 401


def test_a_revoked_api_key_is_refused(api_key, client):
    from flywheel.accounts.models import ApiKey
    from flywheel.accounts.services import api_key_revoke

    api_key_revoke(api_key_id=ApiKey.objects.get().id)
    assert post(client, {"sessions": []}, HTTP_AUTHORIZATION=f"Bearer {api_key}").status_code == 401


def test_an_engineer_session_may_ingest_but_an_annotator_may_not(client, engineer, annotator):
    client.force_login(annotator)
    assert post(client, {"sessions": [session("x")]}).status_code == 403
    client.force_login(engineer)
    assert post(client, {"sessions": [session("x")]}).status_code == 200


def test_the_openapi_schema_describes_the_ingest_endpoint(client, engineer):
    client.force_login(engineer)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/ingest/"]["post"]
    assert "requestBody" in operation and "413" in operation["responses"]


def test_user_ids_are_stored_only_as_keyed_hashes(api_client):
    post(api_client, {"sessions": [session("anon", user_id="alice@example.com")]})
    stored = ChatSession.objects.get().anon_user_id
    assert stored and "alice" not in stored and len(stored) == 32


def test_the_openapi_schema_is_valid(tmp_path, db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/ingest/" in (tmp_path / "schema.yaml").read_text()


def test_json_nested_past_the_parsers_reach_gets_a_400_with_a_json_error(api_client):
    response = post(api_client, "[" * 100_000)
    assert response.status_code == 400
    assert response.json() == {"error": "too_deep", "detail": "the JSON is nested too deeply"}


def test_deeply_nested_metadata_is_refused_for_its_session_only(api_client):
    deep: dict = {}
    for _ in range(200):
        deep = {"x": deep}
    response = post(api_client, {"sessions": [session("deep", metadata=deep), session("flat")]})
    assert response.status_code == 200
    body = response.json()
    assert body["sessions"][0]["status"] == "error" and "nests deeper than 64 levels" in body["sessions"][0]["error"]
    assert body["sessions"][1]["status"] == "created"


def test_every_refused_item_has_a_stable_code_and_its_error_in_the_requests_language(api_client):
    post(api_client, {"sessions": [session("first")]})
    body = {
        "sessions": [
            session("bad", messages=[{"id": "bad-1", "role": "robot", "content": "hi", "extra": 1}]),
            session("twice"),
            session("twice"),
            session("thief", messages=[{"id": "first-u1", "role": "user", "content": "mine"}]),
            session("alt", messages=[{"id": "alt-1", "role": "user", "content": "hi", "alternative_to": "x"}]),
        ],
        "feedback": [
            {"id": "f-unknown", "message_id": "nope", "rating": 1},
            {"id": "f-user", "message_id": "first-u1", "rating": 1},
            {"id": "f-bad", "message_id": "first-a1", "rating": "1"},
        ],
        "pairs": [{"id": "p-same", "chosen_message_id": "first-a1", "rejected_message_id": "first-a1"}],
    }
    english = post(api_client, body, HTTP_ACCEPT_LANGUAGE="en").json()
    # The same batch again, refused the same way (nothing of it was written), asked in Chinese.
    chinese = post(api_client, body, HTTP_ACCEPT_LANGUAGE="zh-Hans").json()

    def codes(result):
        return [
            (key, i["index"], i.get("code"), i.get("fields"))
            for key in ("sessions", "feedback", "pairs")
            for i in result[key]
        ]

    assert codes(english) == codes(chinese)
    assert [i.get("code") for i in english["sessions"]] == [
        "invalid_item",
        None,  # the first "twice" is written
        "repeated_id",
        "message_id_taken",
        "invalid_alternative",
    ]
    assert english["sessions"][0]["fields"] == [
        {"field": "messages.0.role", "code": "literal_error"},
        {"field": "messages.0.extra", "code": "extra_forbidden"},
    ]
    assert [i["code"] for i in english["feedback"]] == ["unknown_message", "not_an_answer", "invalid_item"]
    assert english["feedback"][2]["fields"] == [{"field": "rating", "code": "value_error"}]
    assert english["pairs"][0]["code"] == "same_message"

    assert english["sessions"][0]["error"] == (
        "messages.0.role: must be one of 'system', 'user', 'assistant', 'tool'; "
        "messages.0.extra: is not a field of this item"
    )
    assert chinese["sessions"][0]["error"] == (
        "messages.0.role：必须是 'system', 'user', 'assistant', 'tool' 之一；messages.0.extra：不是该条目的字段"
    )
    assert english["sessions"][2]["error"] == "session id 'twice' appears twice in this batch"
    assert chinese["sessions"][2]["error"] == "会话 id 'twice' 在本批次中出现了两次"
    assert chinese["sessions"][3]["error"] == "这些消息 id 已属于另一个会话：first-u1"
    assert chinese["feedback"][0]["error"] == "未知的消息 id 'nope'"
    assert chinese["feedback"][2]["error"] == "rating：必须是整数 1 或 -1"
    assert chinese["pairs"][0]["error"] == "chosen 与 rejected 是同一条消息"
    assert set(ChatSession.objects.values_list("external_id", flat=True)) == {"first", "twice"}
