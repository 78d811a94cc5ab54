"""Twenty annotators pressing "next" at once, over HTTP against the live server."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections import Counter, defaultdict

from django.test import Client

from flywheel.review.models import ReviewAssignment, ReviewItem
from flywheel.review.services import review_item_enqueue, review_queue_save

CLAIMERS = 20
ITEMS = 15
REVIEWERS_PER_ITEM = 2
CSRF = "k" * 32  # any 32-character secret: the cookie and the header only have to match


class Annotator:
    """One person's browser session, spoken to with the standard library (no redirects followed)."""

    def __init__(self, base_url: str, session_cookie: str):
        self.address = urllib.parse.urlsplit(base_url)
        self.cookie = f"sessionid={session_cookie}; csrftoken={CSRF}"

    def post(self, path: str, form: dict | None = None) -> tuple[int, bytes, dict]:
        connection = http.client.HTTPConnection(self.address.hostname, self.address.port, timeout=60)
        body = urllib.parse.urlencode(form or {})
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Cookie": self.cookie, "X-CSRFToken": CSRF, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        result = response.status, response.read(), dict(response.getheaders())
        connection.close()
        return result


def test_twenty_concurrent_claimers_never_exceed_the_reviewers_an_item_needs(live_server, make_user, engineer):
    import json

    queue = review_queue_save(
        user=engineer, slug="pairs-x2", name="Pairs", kind="preference_pair", reviewers_per_item=REVIEWERS_PER_ITEM
    )
    for index in range(ITEMS):
        review_item_enqueue(
            kind="preference_pair", subject_type="pair", subject_id=f"p{index}", payload={}, queue_slug=queue.slug
        )
    annotators = []
    for index in range(CLAIMERS):
        client = Client()
        client.force_login(make_user("annotator", username=f"claimer-{index}"))
        annotators.append(Annotator(live_server.url, client.cookies["sessionid"].value))

    handed_out: dict[int, list[int]] = defaultdict(list)
    errors: list[str] = []
    start = threading.Barrier(CLAIMERS)
    lock = threading.Lock()

    def work(number: int, annotator: Annotator):
        start.wait()
        while True:
            status, body, _ = annotator.post(f"/review/api/queues/{queue.slug}/claim/")
            if status == 204:
                return
            if status != 200:
                errors.append(f"claim answered {status}: {body[:200]!r}")
                return
            item_id = json.loads(body)["item"]
            with lock:
                handed_out[item_id].append(number)
            status, body, headers = annotator.post(f"/review/items/{item_id}/submit/", {"field-preferred": "tie"})
            if status != 302:
                errors.append(f"submit answered {status}: {body[:200]!r}")
                return

    threads = [threading.Thread(target=work, args=(n, a)) for n, a in enumerate(annotators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert len(handed_out) == ITEMS
    for item_id, claimers in handed_out.items():
        assert len(claimers) == REVIEWERS_PER_ITEM, (item_id, claimers)
        assert len(set(claimers)) == len(claimers), (item_id, claimers)
    per_item = Counter(ReviewAssignment.objects.filter(state="submitted").values_list("item_id", flat=True))
    assert set(per_item.values()) == {REVIEWERS_PER_ITEM}
    assert set(ReviewItem.objects.filter(queue=queue).values_list("status", flat=True)) == {"done"}
