import pytest

from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit, review_queue_save
from flywheel.review.stats import review_agreement, review_throughput
from tests.factories import session_with_turns

pytestmark = pytest.mark.usefixtures("recording_kind")


def reviewed(engineer, reviewers, answers_per_item, reviewers_per_item):
    review_queue_save(
        user=engineer, slug="multi", name="Multi", kind="test_recording", reviewers_per_item=reviewers_per_item
    )
    for index, answers in enumerate(answers_per_item):  # noqa: B007
        session = session_with_turns([("user", "q"), ("assistant", "a")])
        item = review_item_enqueue(
            kind="test_recording",
            subject_type="session",
            subject_id=str(session.id),
            session_id=session.id,
            payload={},
            queue_slug="multi",
        )
        for reviewer, answer in zip(reviewers, answers):
            assert review_item_claim_next(queue=item.queue, user=reviewer).item.id == item.id
            review_item_submit(item_id=item.id, user=reviewer, decision={"ok": answer})


def test_cohens_kappa_and_krippendorffs_alpha_for_two_reviewers(engineer, make_reviewers):
    from sklearn.metrics import cohen_kappa_score

    answers = [("yes", "yes"), ("yes", "no"), ("no", "no"), ("no", "no"), ("yes", "yes"), ("no", "yes")]
    reviewed(engineer, make_reviewers(2), answers, 2)
    row = next(r for r in review_agreement() if r["field"] == "ok")
    expected = cohen_kappa_score([a for a, _ in answers], [b for _, b in answers])
    assert row["kappa"] == pytest.approx(expected, abs=1e-3)
    assert row["units"] == 6 and row["raters"] == 2
    assert row["percent"] == pytest.approx(66.7)
    assert row["alpha"] is not None


def test_krippendorffs_alpha_for_three_reviewers_matches_the_textbook_value(engineer, make_reviewers):
    import krippendorff
    import numpy as np

    answers = [("yes", "yes", "yes"), ("yes", "no", "yes"), ("no", "no", "no"), ("no", "no", "yes")]
    reviewed(engineer, make_reviewers(3), answers, 3)
    row = next(r for r in review_agreement() if r["field"] == "ok")
    matrix = np.array([[1 if v == "yes" else 0 for v in column] for column in answers]).T
    assert row["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), abs=1e-3
    )
    assert row["kappa"] is None  # three ratings per unit: kappa does not apply


def test_throughput_counts_each_reviewers_submissions(engineer, make_reviewers):
    first, second = make_reviewers(2)
    reviewed(engineer, [first, second], [("yes", "yes"), ("no", "no")], 2)
    rows = {r["username"]: r for r in review_throughput()["rows"]}
    assert rows[first.username]["submitted"] == 2 and rows[first.username]["today"] == 2
    assert ReviewItem.objects.filter(status="done").count() == 2
