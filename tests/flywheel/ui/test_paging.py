"""The one keyset-paging helper: pages by key, and a "next" key only when a row is left."""

import pytest

from flywheel.jobs.models import Job
from flywheel.ui.paging import keyset_page, page_key

pytestmark = pytest.mark.django_db


def make_jobs(count: int) -> list[int]:
    return [Job.objects.create(kind="tests.paging", queue="default").id for _ in range(count)]


def test_pages_walk_every_row_once_newest_first():
    ids = make_jobs(7)
    seen, past = [], None
    while True:
        page = keyset_page(Job.objects.filter(kind="tests.paging"), size=3, past=past)
        seen += [job.id for job in page]
        if page.next_key is None:
            break
        past = page.next_key
    assert seen == sorted(ids, reverse=True)


def test_a_page_holding_exactly_the_last_rows_offers_no_next_page():
    make_jobs(6)
    first = keyset_page(Job.objects.filter(kind="tests.paging"), size=3)
    second = keyset_page(Job.objects.filter(kind="tests.paging"), size=3, past=first.next_key)
    assert len(second) == 3 and second.next_key is None


def test_ascending_pages_start_past_the_key_given():
    ids = make_jobs(4)
    page = keyset_page(Job.objects.filter(kind="tests.paging"), size=2, descending=False, past=ids[0])
    assert [job.id for job in page] == ids[1:3] and page.next_key == ids[2]


@pytest.mark.parametrize("value, expected", [("12", 12), ("", None), ("-3", None), ("1e9", None), ("x", None)])
def test_a_page_key_is_digits_or_the_first_page(rf, value, expected):
    assert page_key(rf.get("/", {"before": value})) == expected
