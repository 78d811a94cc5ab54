import pytest
from django.urls import reverse

from flywheel.accounts.models import AuditEvent
from flywheel.jobs.models import Job
from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue
from flywheel.review.services import review_item_claim_next, review_queue_save
from tests.flywheel.review.test_claims import make_items


@pytest.fixture
def queues(engineer):
    items = make_items(6)
    source = items[0].queue
    target = review_queue_save(user=engineer, slug="zh-bad", name="Chinese bad cases", kind="badcase_answer")
    ReviewItem.objects.filter(id__in=[i.id for i in items[:4]]).update(priority=5)
    return source, target, items


def bulk(client, source, **data):
    return client.post(reverse("review:queue_bulk", args=[source.slug]), data)


def test_select_all_reroutes_exactly_the_filtered_items(client, engineer, queues):
    source, target, items = queues
    client.force_login(engineer)
    response = bulk(
        client,
        source,
        scope="filtered",
        status="open",
        priority_min="5",
        action="reroute",
        target=target.slug,
        ids=[items[5].id],
    )  # a stray id must not widen the set
    assert response.status_code == 302
    moved = set(ReviewItem.objects.filter(queue=target).values_list("id", flat=True))
    assert moved == {i.id for i in items[:4]}
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.items_total, target.items_total) == (2, 4)


def test_select_all_leaves_out_items_added_after_the_page_was_shown(client, engineer, queues):
    source, target, items = queues
    upto = max(i.id for i in items)
    late = make_items(1)[0]
    ReviewItem.objects.filter(id=late.id).update(priority=5)
    client.force_login(engineer)
    bulk(client, source, scope="filtered", priority_min="5", upto_id=str(upto), action="set_priority", priority="9")
    assert ReviewItem.objects.get(id=late.id).priority == 5
    assert ReviewItem.objects.filter(priority=9).count() == 4


def test_ticked_rows_are_limited_to_the_filter(client, engineer, queues):
    source, target, items = queues
    client.force_login(engineer)
    bulk(client, source, priority_min="5", ids=[items[0].id, items[5].id], action="cancel")
    assert set(ReviewItem.objects.filter(status="cancelled").values_list("id", flat=True)) == {items[0].id}


def test_rerouting_to_a_queue_of_another_kind_is_refused(client, engineer, queues):
    source, _, _ = queues
    review_queue_save(user=engineer, slug="pairs", name="Pairs", kind="preference_pair")
    client.force_login(engineer)
    bulk(client, source, scope="filtered", action="reroute", target="pairs")
    assert not ReviewItem.objects.filter(queue__slug="pairs").exists()


def test_releasing_frees_running_claims(client, engineer, annotator, queues):
    source, _, items = queues
    claim = review_item_claim_next(queue=source, user=annotator)
    client.force_login(engineer)
    bulk(client, source, scope="filtered", action="release")
    assert ReviewAssignment.objects.get().state == ReviewAssignment.State.RELEASED
    assert ReviewItem.objects.get(id=claim.item.id).active_claims == 0


def test_a_bulk_action_is_in_the_audit_log(client, engineer, queues):
    source, target, _ = queues
    client.force_login(engineer)
    bulk(client, source, scope="filtered", action="reroute", target=target.slug)
    event = AuditEvent.objects.get(action="review.bulk.reroute")
    assert event.actor == engineer and event.detail["filter"]["status"] == "open"


def test_a_large_set_is_handed_to_a_job(client, engineer, queues, settings):
    source, _, _ = queues
    settings.FLYWHEEL_REVIEW_BULK_INLINE_MAX = 2
    client.force_login(engineer)
    response = bulk(client, source, scope="filtered", action="set_priority", priority="7")
    job = Job.objects.get(kind="review.bulk_action")
    assert response.url == reverse("jobs:detail", args=[job.id])


def test_the_bulk_job_applies_the_action(queues, engineer):
    from flywheel.review.bulk import review_items_bulk_run
    from flywheel.review.item_filters import ItemFilter

    source, _, _ = queues
    payload = {"filter": ItemFilter(queue_id=source.id).as_dict(), "action": "set_priority", "params": {"priority": 7}}
    assert review_items_bulk_run(payload=payload)["changed"] == 6
    assert review_items_bulk_run(payload=payload)["changed"] == 6  # running it again changes nothing new
    assert set(ReviewItem.objects.values_list("priority", flat=True)) == {7}


def test_the_item_list_pages_by_key_through_every_item(client, engineer, queues):
    from flywheel.review import selectors

    source, _, items = queues
    seen = []
    after = None
    from flywheel.review.item_filters import ItemFilter

    while True:
        page = selectors.review_items_page(item_filter=ItemFilter(queue_id=source.id), after=after, size=4)
        seen += [i.id for i in page["items"]]
        if not page["next"]:
            break
        after = selectors.parse_cursor(page["next"])
    ordered = sorted(items, key=lambda i: (-ReviewItem.objects.get(id=i.id).priority, i.id))
    assert seen == [i.id for i in ordered]


def test_a_queue_can_be_created_from_the_form(client, engineer, db):
    client.force_login(engineer)
    response = client.post(
        reverse("review:queue_new"),
        {
            "name": "Two-person labels",
            "slug": "double",
            "kind": "badcase_answer",
            "priority": "3",
            "reviewers_per_item": "2",
            "lease_seconds": "600",
            "audience": "reviewers",
            "active": "on",
            "filters_json": '{"app": ["chat"]}',
        },
    )
    assert response.status_code == 302
    queue = ReviewQueue.objects.get(slug="double")
    assert (queue.reviewers_per_item, queue.filters) == (2, {"app": ["chat"]})
    assert AuditEvent.objects.filter(action="review.queue.create", target_id="double").exists()


def test_bad_queue_filters_are_refused_with_a_clear_error(client, engineer, db):
    client.force_login(engineer)
    response = client.post(
        reverse("review:queue_new"),
        {
            "name": "Bad",
            "slug": "bad",
            "kind": "badcase_answer",
            "priority": "0",
            "reviewers_per_item": "1",
            "lease_seconds": "600",
            "audience": "reviewers",
            "filters_json": '{"colour": "red"}',
        },
    )
    assert response.status_code == 422
    assert "unknown filter colour" in response.content.decode()
