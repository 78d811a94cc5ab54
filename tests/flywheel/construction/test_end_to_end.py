"""From an ingested thumbs-down to dataset-ready samples, through the review services."""

import pytest

from flywheel.construction.selectors import dataset_ready_pairs, dataset_ready_sft_samples
from flywheel.ingest.services import ingest_batch
from flywheel.pipeline.services import pipeline_run
from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_claim_next, review_item_submit
from tests.flywheel.construction.conftest import JUDGE, TEACHER, run_construction

pytestmark = pytest.mark.django_db

PROMPT, BAD = "How many legs does a spider have?", "Spiders have six legs."
GOOD, MEH = "Spiders have eight legs.", "Eight, I believe."


@pytest.fixture
def constructed(script):
    ingest_batch(
        sessions=[
            {
                "id": "spider-1",
                "app": "support-bot",
                "messages": [
                    {"id": "spider-1:1", "role": "user", "content": PROMPT},
                    {"id": "spider-1:2", "role": "assistant", "content": BAD},
                ],
            }
        ],
        feedback=[{"id": "fb-1", "message_id": "spider-1:2", "rating": -1, "comment": "insects have six"}],
        announce=False,
    )
    # The stages a thumbs-down goes through before construction: cleaning, mining, routing.
    pipeline_run(only={"cleaning", "badcases", "review"})
    script.teacher, script.scores = [GOOD, MEH], {BAD: 1, GOOD: 9, MEH: 6}
    summary = run_construction(n=2)
    assert summary["sft_answers"] == 1 and summary["pairs"] == 1
    return summary


def _decide(kind: str, user, decision_for):
    item = ReviewItem.objects.get(kind=kind)
    claim = review_item_claim_next(queue=item.queue, user=user)
    assert claim.item.id == item.id
    review_item_submit(item_id=item.id, user=user, decision=decision_for(item))
    return item


def test_an_accepted_pair_from_a_thumbs_down_is_dataset_ready_with_its_lineage(constructed, annotator):
    item = _decide("constructed_pair", annotator, lambda item: {"preferred": "chosen"})
    [pair] = dataset_ready_pairs()
    assert pair["prompt_messages"] == [{"role": "user", "content": PROMPT}]
    assert (pair["chosen"], pair["rejected"], pair["margin"]) == (GOOD, BAD, 8)
    lineage = pair["lineage"]
    assert lineage["reasons"] == ["thumbs_down"] and lineage["reviewer"] == annotator.username
    assert lineage["review_item_id"] == item.id and lineage["judge_models"] == [JUDGE]
    assert lineage["chosen_model"] == TEACHER and lineage["rejected_candidate_source"] == "original"
    assert set(lineage["judge_prompt_versions"]) == {"judge-pointwise-v1", "judge-pairwise-v1"}


def test_an_sft_answer_edited_by_the_reviewer_is_dataset_ready_with_the_edit(constructed, annotator):
    edit = "Spiders have eight legs; insects have six."
    _decide(
        "constructed_answer",
        annotator,
        lambda item: {"verdict": "accept", "turns": {str(item.message_id): {"edited": edit}}},
    )
    [sample] = dataset_ready_sft_samples()
    assert sample["messages"] == [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": edit}]
    assert sample["lineage"]["edited"] is True and sample["lineage"]["candidate_source"] == "teacher"


def test_an_untouched_edit_box_is_an_acceptance_without_edit(constructed, annotator):
    _decide(
        "constructed_answer",
        annotator,
        lambda item: {"verdict": "accept", "turns": {str(item.message_id): {"edited": GOOD}}},
    )
    [sample] = dataset_ready_sft_samples()
    assert sample["messages"][-1]["content"] == GOOD and sample["lineage"]["edited"] is False


def test_a_rejected_pair_is_not_dataset_ready(constructed, annotator):
    _decide("constructed_pair", annotator, lambda item: {"preferred": "both_bad"})
    assert dataset_ready_pairs() == []


def test_a_pair_the_reviewer_prefers_the_other_way_round_is_kept_swapped(constructed, annotator):
    _decide("constructed_pair", annotator, lambda item: {"preferred": "rejected"})
    [pair] = dataset_ready_pairs()
    assert (pair["chosen"], pair["rejected"]) == (BAD, GOOD) and pair["lineage"]["swapped_by_reviewer"] is True


def test_rejecting_an_answer_while_editing_it_is_refused_with_a_clear_message(constructed, annotator):
    item = ReviewItem.objects.get(kind="constructed_answer")
    review_item_claim_next(queue=item.queue, user=annotator)
    with pytest.raises(ValueError, match="edited the answer but chose reject"):
        review_item_submit(
            item_id=item.id,
            user=annotator,
            decision={"verdict": "reject", "turns": {str(item.message_id): {"edited": "new"}}},
        )
    assert dataset_ready_sft_samples() == []
