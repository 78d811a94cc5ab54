"""The engineers' "Adjudication" link works on a fresh install, before any disagreement has
created the adjudication queue."""

from __future__ import annotations

from django.test import Client

from flywheel.review.models import ReviewQueue


def test_the_adjudication_link_opens_an_empty_queue_on_a_fresh_install(engineer):
    assert not ReviewQueue.objects.filter(kind="adjudication").exists()
    client = Client()
    client.force_login(engineer)
    home = client.get("/review/queues/").content.decode()
    assert 'href="/review/queues/adjudication/"' in home
    response = client.get("/review/queues/adjudication/")
    assert response.status_code == 200
    assert ReviewQueue.objects.get(kind="adjudication").slug == "adjudication"
    assert client.get("/review/queues/adjudication/").status_code == 200
    assert ReviewQueue.objects.filter(kind="adjudication").count() == 1


def test_an_unknown_queue_is_still_a_404(engineer):
    client = Client()
    client.force_login(engineer)
    response = client.get("/review/queues/no-such-queue/")
    assert response.status_code == 404 and "no review queue" in response.content.decode()
