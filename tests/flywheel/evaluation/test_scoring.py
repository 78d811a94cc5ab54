"""The pure scoring core, rule by rule."""

from flywheel.evaluation import scoring


def test_usability_weighs_the_dimensions_by_task_type_and_overrides_win():
    scores = {"helpfulness": 8, "honesty": 4, "harmlessness": 10, "instruction_following": 6}
    assert scoring.usability(scores, scoring.weights_for("chat")) == 0.4 * 8 + 0.25 * 4 + 0.2 * 10 + 0.15 * 6
    assert scoring.usability(scores, scoring.weights_for("math")) < scoring.usability(
        scores, scoring.weights_for("chat")
    )
    assert scoring.usability(scores, scoring.weights_for("chat", {"chat": {"honesty": 1}})) == 4


def test_math_answers_are_scored_by_exact_match_of_the_final_number():
    assert scoring.offline_score("So the answer is 1,200.", "1200", "math") == {"metric": "exact_match", "value": 1.0}
    assert scoring.offline_score("It is 12", "The result is 13", "math")["value"] == 0.0


def test_chinese_references_are_scored_by_character_f1_and_english_by_word_f1():
    chinese = scoring.offline_score("北京是首都", "首都是北京", "qa")
    assert chinese["metric"] == "char_f1" and chinese["value"] == 1.0
    english = scoring.offline_score("Paris is the capital", "The capital is Paris.", "qa")
    assert english["metric"] == "word_f1" and english["value"] == 1.0
    assert scoring.f1("a dog", "the cat") == 0.0


def test_position_bias_is_the_share_of_non_tie_verdicts_for_the_answer_shown_first():
    assert scoring.position_bias([("AB", "A"), ("BA", "A"), ("AB", "B"), ("BA", "tie")]) == 2 / 3
    assert scoring.position_bias([("AB", "tie")]) is None


def test_length_bias_reports_how_often_the_longer_answer_wins():
    bias = scoring.length_bias([(1, 100, 10), (1, 50, 20), (-1, 10, 30), (0, 5, 9)], [(8, 100), (6, 50), (3, 10)])
    assert bias["longer_wins"] == 1.0
    assert bias["score_length_correlation"] > 0.9


def test_bootstrap_interval_contains_the_mean_and_is_reproducible():
    values = [3, 4, 5, 6, 7, 8, 5, 6]
    low, high = scoring.bootstrap_interval(values)
    assert low <= sum(values) / len(values) <= high
    assert scoring.bootstrap_interval(values) == (low, high)


def test_cohen_kappa_is_one_for_agreement_and_zero_for_chance():
    assert scoring.cohen_kappa(["A", "B", "A"], ["A", "B", "A"]) == 1.0
    assert abs(scoring.cohen_kappa(["A", "A", "B", "B"], ["A", "B", "A", "B"])) < 1e-9
