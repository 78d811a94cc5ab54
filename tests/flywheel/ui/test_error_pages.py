"""403 and 404 answer with the site's own page (the reason and the navigation), and a 403 is
logged as one line, not as a traceback."""

from __future__ import annotations

import logging

from django.test import Client


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_a_403_page_gives_the_reason_and_keeps_the_navigation(annotator):
    response = _client(annotator).get("/sessions/")
    assert response.status_code == 403
    body = response.content.decode()
    assert 'id="error-page"' in body and "Your role does not give access to this page." in body
    assert "annotator-user" in body and "(annotator)" in body
    assert 'class="nav-links"' in body and 'href="/review/"' in body and "Log out" in body


def test_a_404_page_gives_the_reason_and_keeps_the_navigation(engineer):
    response = _client(engineer).get("/sessions/no-such-session/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'id="error-page"' in body and "no session with that id" in body
    assert 'href="/sessions/"' in body and "Log out" in body


def test_a_404_for_an_unknown_address_names_the_address_escaped(engineer):
    response = _client(engineer).get("/no/<such>/page")
    assert response.status_code == 404
    body = response.content.decode()
    assert "There is no page at" in body and "<such>" not in body


def test_a_403_is_logged_as_one_line_with_the_reason(annotator, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert _client(annotator).get("/sessions/").status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is None and record.exc_text is None
    line = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
    assert "\n" not in line and "Traceback" not in line
    assert "Forbidden" in line and "/sessions/" in line and "Your role does not give access" in line
