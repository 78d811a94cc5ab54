"""The sessions list: full-text search in English and Chinese, every filter, filters that compose
with keyset paging, the first-message preview and the cleaning and label columns."""

from __future__ import annotations

import html
import json
from datetime import datetime
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from flywheel.ingest.selectors import SessionFilters, sessions_filtered, sessions_page
from tests.factories import FeedbackFactory, session_with_turns


@pytest.fixture
def client(engineer) -> Client:
    client = Client()
    client.force_login(engineer)
    return client


def _listed(client, **params) -> list[str]:
    response = client.get(reverse("ingest:session_list"), params)
    assert response.status_code == 200
    return [s.external_id for s in response.context["sessions"]]


def _on(day: str) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(day + "T12:00:00"))


def test_search_finds_english_text_whatever_its_case(db, client):
    session_with_turns([("user", "How do I RESET my Password?")], external_id="en")
    session_with_turns([("user", "What is the weather?")], external_id="other")
    assert _listed(client, q="reset my password") == ["en"]


def test_search_finds_chinese_text_of_two_and_of_more_characters(db, client):
    session_with_turns([("user", "北京明天的天气怎么样？"), ("assistant", "北京明天晴。")], external_id="zh")
    session_with_turns([("user", "上海有什么好吃的？")], external_id="zh-other")
    assert _listed(client, q="北京") == ["zh"]
    assert _listed(client, q="天气怎么样") == ["zh"]
    assert _listed(client, q="好吃") == ["zh-other"]


def test_search_matches_assistant_answers_too(db, client):
    session_with_turns([("user", "hi"), ("assistant", "Photosynthesis turns light into sugar")], external_id="bio")
    assert _listed(client, q="photosynthesis") == ["bio"]


def test_search_text_is_data_not_sql_nor_a_pattern(db, client):
    session_with_turns([("user", "50% off today")], external_id="percent")
    session_with_turns([("user", "nothing special")], external_id="plain")
    assert _listed(client, q="%") == ["percent"]
    assert _listed(client, q="_") == []
    assert _listed(client, q="' OR 1=1 --") == []
    assert _listed(client, q="%'; DROP TABLE ingest_message; --") == []
    assert _listed(client, q="nothing") == ["plain"]


def test_the_trigram_index_serves_the_search_on_postgresql(db):
    assert connection.vendor == "postgresql"
    sql, params = sessions_filtered(SessionFilters(q="北京天气")).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_content_trgm_idx" in plan


def test_filters_by_app_and_model_version(db, client):
    session_with_turns([("user", "a")], external_id="shop-a", app="shop", model_version="m1")
    session_with_turns([("user", "a")], external_id="shop-b", app="shop", model_version="m2")
    session_with_turns([("user", "a")], external_id="help-a", app="help", model_version="m1")
    assert _listed(client, app="shop") == ["shop-b", "shop-a"]
    assert _listed(client, app="shop", model_version="m1") == ["shop-a"]


def test_the_app_and_model_filters_offer_the_stored_values_and_still_take_any_text(db, client):
    session_with_turns([("user", "a")], external_id="shop-a", app="shop", model_version="m2")
    session_with_turns([("user", "a")], external_id="shop-b", app="shop", model_version="m1")
    session_with_turns([("user", "a")], external_id="help-a", app="客服", model_version="m1")
    session_with_turns([("user", "a")], external_id="bare", app="", model_version="")
    response = client.get(reverse("ingest:session_list"))
    # Each value once, in order, the empty one left out (it is no filter).
    assert response.context["app_choices"] == sorted(["shop", "客服"])
    assert response.context["model_version_choices"] == ["m1", "m2"]
    page = response.content.decode()
    assert 'list="app-choices"' in page and '<option value="客服">' in page
    assert 'list="model-version-choices"' in page and '<option value="m2">' in page
    # A value that is not offered is still a filter (free text), and matches nothing here.
    assert _listed(client, app="not-listed") == []
    assert _listed(client, app="客服") == ["help-a"]


def test_filter_choices_stop_at_their_limit_and_escape_what_they_list(db, client):
    from flywheel.ingest.selectors import session_filter_choices

    for n in range(5):
        session_with_turns([("user", "a")], external_id=f"s{n}", app=f"app-{n}", model_version='"><b>x')
    assert session_filter_choices("app", limit=3) == ["app-0", "app-1", "app-2"]
    page = client.get(reverse("ingest:session_list")).content.decode()
    assert "<b>x" not in page and "&quot;&gt;&lt;b&gt;x" in page
    with pytest.raises(ValueError):
        session_filter_choices("external_id")


def test_filters_by_thumbs(db, client):
    down = session_with_turns([("user", "q"), ("assistant", "a")], external_id="down")
    up = session_with_turns([("user", "q"), ("assistant", "a")], external_id="up")
    session_with_turns([("user", "q"), ("assistant", "a")], external_id="unrated")
    FeedbackFactory(message=down.messages.get(seq=2), rating=-1)
    FeedbackFactory(message=down.messages.get(seq=2), rating=-1)
    FeedbackFactory(message=up.messages.get(seq=2), rating=1)
    assert _listed(client, thumbs="down") == ["down"]
    assert _listed(client, thumbs="up") == ["up"]
    assert _listed(client, thumbs="rated") == ["up", "down"]
    assert _listed(client, thumbs="unrated") == ["unrated"]
    assert _listed(client, thumbs_down="1") == ["down"], "links made before the thumbs filter still work"
    assert _listed(client, thumbs="sideways") == ["unrated", "up", "down"], "an unknown value filters nothing"


def test_filters_by_start_date_inclusive_of_both_ends(db, client):
    for day in ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]:
        session_with_turns([("user", "q")], external_id=day, started_at=_on(day))
    assert _listed(client, since="2026-03-02", until="2026-03-03") == ["2026-03-03", "2026-03-02"]
    assert _listed(client, since="2026-03-04") == ["2026-03-04"]


def test_a_malformed_date_is_named_and_that_filter_left_off(db, client):
    session_with_turns([("user", "q")], external_id="s")
    response = client.get(reverse("ingest:session_list"), {"since": "<b>yesterday</b>"})
    assert [s.external_id for s in response.context["sessions"]] == ["s"]
    body = response.content.decode()
    assert "&lt;b&gt;yesterday&lt;/b&gt; is not a date" in body
    assert "<b>yesterday</b>" not in body


def _clean(session, status: str):
    from flywheel.cleaning.models import SessionCleaning

    SessionCleaning.objects.create(
        session=session, app=session.app, status=status, config_fingerprint="test", cleaned_at=timezone.now()
    )


def _label(session, *, task_type: str, quality: int, trusted: bool = True):
    from flywheel.labeling.models import Label

    Label.objects.create(
        session=session,
        source="llm",
        prompt_version="v1",
        model="test-llm",
        task_type=task_type,
        quality=quality,
        usable=quality >= 3,
        trusted=trusted,
    )


def test_filters_by_cleaning_status_including_not_cleaned_yet(db, client):
    kept = session_with_turns([("user", "q")], external_id="kept")
    dropped = session_with_turns([("user", "q")], external_id="dropped")
    session_with_turns([("user", "q")], external_id="fresh")
    _clean(kept, "kept")
    _clean(dropped, "dropped")
    assert _listed(client, cleaning="dropped") == ["dropped"]
    assert _listed(client, cleaning="none") == ["fresh"]


def test_filters_by_task_type_and_label_quality(db, client):
    code = session_with_turns([("user", "fix my code")], external_id="code")
    maths = session_with_turns([("user", "2+2")], external_id="math")
    session_with_turns([("user", "hello")], external_id="unlabelled")
    _label(code, task_type="code", quality=2)
    _label(maths, task_type="math", quality=5)
    assert _listed(client, task_type="code") == ["code"]
    assert _listed(client, quality="5") == ["math"]
    assert _listed(client, quality="low") == ["code"]
    assert _listed(client, task_type="math", quality="low") == []
    assert _listed(client, task_type="no-such-type") == ["unlabelled", "math", "code"]


def test_filters_compose_with_keyset_paging(db, client):
    for n in range(7):
        session_with_turns([("user", f"refund please {n}")], external_id=f"refund-{n}", app="shop")
        session_with_turns([("user", f"unrelated {n}")], external_id=f"other-{n}", app="shop")
    filters = SessionFilters(q="refund", app="shop")
    seen, before = [], None
    while True:
        page = sessions_page(filters=filters, before_id=before, size=3)
        seen += [s.external_id for s in page]
        if page.next_key is None:
            break
        before = page.next_key
    assert seen == [f"refund-{n}" for n in reversed(range(7))]


def test_the_next_page_link_keeps_every_filter(db, client):
    for n in range(51):
        session_with_turns([("user", f"北京 {n}")], external_id=f"bj-{n}", app="shop")
    response = client.get(reverse("ingest:session_list"), {"q": "北京", "app": "shop", "thumbs": "unrated"})
    assert len(response.context["sessions"]) == 50
    query = parse_qs(urlparse(response.context["next_url"]).query)
    assert query["q"] == ["北京"] and query["app"] == ["shop"] and query["thumbs"] == ["unrated"]
    second = client.get(reverse("ingest:session_list"), {k: v[0] for k, v in query.items()})
    assert [s.external_id for s in second.context["sessions"]] == ["bj-0"]
    assert second.context["next_url"] is None


def test_the_preview_shows_the_first_user_message_with_personal_data_replaced(db, client):
    session_with_turns([("user", "Mail me at jane.doe@example.com about my order")], external_id="pii")
    (session,) = client.get(reverse("ingest:session_list")).context["sessions"]
    assert session.preview == "Mail me at <EMAIL> about my order"
    assert _listed(client, q="jane.doe") == ["pii"], "the search still reads the stored text"


def test_each_row_previews_the_first_user_message_escaped_and_shortened(db, client):
    hostile = "<script>alert(1)</script> " + "x" * 400
    session_with_turns([("system", "You are helpful"), ("user", hostile), ("assistant", "no")], external_id="h")
    response = client.get(reverse("ingest:session_list"))
    (session,) = response.context["sessions"]
    assert session.preview.startswith("<script>alert(1)</script>")
    assert session.preview.endswith("…") and len(session.preview) == 161
    body = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body


def test_rows_show_the_cleaning_status_and_the_speaking_label(db, client):
    session = session_with_turns([("user", "q")], external_id="s")
    _clean(session, "flagged")
    _label(session, task_type="qa", quality=4)
    body = client.get(reverse("ingest:session_list")).content.decode()
    assert '<td data-column="cleaning">flagged</td>' in body
    assert '<td data-column="task_type">qa · q4</td>' in body


def test_a_pasted_session_id_links_to_that_session(db, client):
    session_with_turns([("user", "q")], external_id="abc-123")
    response = client.get(reverse("ingest:session_list"), {"q": "abc-123"})
    assert response.context["exact_session"].external_id == "abc-123"
    assert reverse("ingest:session_detail", args=["abc-123"]) in response.content.decode()


def test_the_session_page_shows_metadata_as_pretty_escaped_json(db, client):
    metadata = {"locale": "zh-CN", "vip": True, "referrer": None, "note": "<script>alert(1)</script>", "城市": "北京"}
    session_with_turns([("user", "q")], external_id="meta", metadata=metadata)
    body = client.get(reverse("ingest:session_detail", args=["meta"])).content.decode()
    block = body.split('<pre id="session-metadata" class="json">')[1].split("</pre>")[0]
    assert "<script>" not in block and "&lt;script&gt;alert(1)&lt;/script&gt;" in block
    shown = html.unescape(block)
    assert json.loads(shown) == metadata, "what is shown is the metadata, as JSON"
    assert '"vip": true' in shown and '"referrer": null' in shown and '"城市": "北京"' in shown
    assert "\n  " in block, "indented, one key per line"


@pytest.mark.parametrize(
    "params",
    [
        {"q": "nul\x00byte"},
        {"app": "\x00"},
        {"model_version": "a\x00b"},
        {"until": "9999-12-31"},
        {"since": "0001-01-01"},
        {"before": "9" * 40},
        {"q": "x" * 10_000},
        {"cleaning": "<script>"},
    ],
)
def test_hostile_or_extreme_parameters_answer_a_page_not_an_error(db, client, params):
    session_with_turns([("user", "nul byte here")], external_id="s")
    response = client.get(reverse("ingest:session_list"), params)
    assert response.status_code == 200
