"""The pure rules that turn judged candidates into an SFT answer and a pair."""

from flywheel.construction.selection import (
    Scored,
    best_of,
    combine_orders,
    normalize_text,
    pair_refusal,
    sft_refusal,
    top_contest,
    worst_of,
)


def scored(index, score, *, original=False, text=None, failed=False):
    return Scored(index=index, is_original=original, text_hash=text or f"h{index}", score=score, verifier_failed=failed)


def test_two_orders_that_agree_on_the_same_answer_prefer_it():
    assert combine_orders("A", "B") == (1, False)
    assert combine_orders("B", "A") == (-1, False)


def test_picking_the_same_position_in_both_orders_is_an_inconsistent_tie():
    assert combine_orders("A", "A") == (0, True)
    assert combine_orders("B", "B") == (0, True)


def test_one_order_decided_and_one_tied_leans_to_the_decided_side():
    assert combine_orders("A", "tie") == (1, False)


def test_a_missing_order_gives_no_preference():
    assert combine_orders("A", None) == (None, False)


def test_texts_differing_only_in_case_and_spacing_are_identical_after_normalisation():
    assert normalize_text("  The  answer\n is 4 ") == normalize_text("the answer is 4")


def test_a_pair_of_identical_texts_is_refused_whatever_the_scores():
    chosen, rejected = scored(1, 9, text="same"), scored(0, 1, original=True, text="same")
    assert (
        pair_refusal(chosen=chosen, rejected=rejected, margin_threshold=1, confirmed=1, require_confirmation=True)
        == "identical_texts"
    )


def test_equal_scores_are_a_tie_even_with_a_zero_threshold_margin():
    assert (
        pair_refusal(
            chosen=scored(1, 7), rejected=scored(0, 7), margin_threshold=0.1, confirmed=None, require_confirmation=False
        )
        == "tie"
    )


def test_a_pairwise_check_that_does_not_confirm_the_direction_refuses_the_pair_as_a_tie():
    assert (
        pair_refusal(
            chosen=scored(1, 9), rejected=scored(0, 2), margin_threshold=2, confirmed=0, require_confirmation=True
        )
        == "tie"
    )


def test_a_failed_pairwise_check_is_a_judge_failure():
    assert (
        pair_refusal(
            chosen=scored(1, 9), rejected=scored(0, 2), margin_threshold=2, confirmed=None, require_confirmation=True
        )
        == "judge_failure"
    )


def test_a_candidate_that_failed_its_verifier_is_never_chosen_whatever_its_score():
    candidates = [scored(0, 3, original=True), scored(1, 10, failed=True), scored(2, 6)]
    assert best_of(candidates, {}).index == 2


def test_every_candidate_failing_its_verifier_is_a_verifier_refusal():
    candidates = [scored(0, 3, original=True, failed=True), scored(1, 10, failed=True)]
    assert best_of(candidates, {}) is None
    assert sft_refusal(best=None, original=candidates[0], prefs={}, judged=2, verifier_failures=2) == "verifier_failure"


def test_the_rejected_side_on_equal_low_scores_is_the_original_answer():
    candidates = [scored(0, 2, original=True), scored(1, 9), scored(2, 2)]
    assert worst_of(candidates, besides=candidates[1]).index == 0


def test_leaders_further_apart_than_the_band_are_not_compared_pairwise():
    assert top_contest([scored(1, 9), scored(2, 7)], band=1.0) is None
    assert top_contest([scored(1, 9), scored(2, 8.5)], band=1.0) is not None


def test_a_teacher_answer_tied_with_the_original_is_no_sft_answer_unless_pairwise_prefers_it():
    best, original = scored(1, 7), scored(0, 7, original=True)
    assert sft_refusal(best=best, original=original, prefs={}, judged=2, verifier_failures=0) == "tie"
    assert sft_refusal(best=best, original=original, prefs={(0, 1): -1}, judged=2, verifier_failures=0) is None
