"""Uncertainty values computed by hand for small cases."""

import math

import pytest

from elad import uncertainty as u


def test_answer_entropy_all_agree_is_zero():
    assert u.answer_entropy(["3", "3", "3", "3"]) == 0.0
    assert str(u.answer_entropy(["3", "3"])) == "0.0"  # not -0.0 in the JSON lines


def test_answer_entropy_all_differ_is_one():
    assert u.answer_entropy(["1", "2", "3", "4"]) == pytest.approx(1.0)


def test_answer_entropy_tie_two_two():
    # two answers, each twice: H = log 2, max = log 4
    assert u.answer_entropy(["1", "1", "2", "2"]) == pytest.approx(math.log(2) / math.log(4))


def test_unparseable_answers_count_as_distinct_values():
    # None, None, 5, 5: three values with counts 1, 1, 2
    expected = -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5)) / math.log(4)
    assert u.answer_entropy([None, None, "5", "5"]) == pytest.approx(expected)
    assert u.answer_entropy([None, None]) == pytest.approx(1.0)


def test_single_sample_has_no_disagreement():
    assert u.answer_entropy(["7"]) == 0.0
    assert u.answer_entropy([None]) == 0.0


def test_intra_rising_confidence_only_pays_final_doubt():
    value, least_stable = u.intra_uncertainty([0.2, 0.5, 0.9], n_steps=2)
    assert value == pytest.approx(0.1)
    assert least_stable is None


def test_intra_counts_every_drop_and_marks_the_largest():
    # c = 0.5, 0.8, 0.3, 0.6, 0.4: drops 0.5 (step 2) and 0.2 (step 4); final 0.4
    value, least_stable = u.intra_uncertainty([0.5, 0.8, 0.3, 0.6, 0.4], n_steps=4)
    assert value == pytest.approx((1 - 0.4) + 0.5 + 0.2)
    assert least_stable == 2
    assert u.normalized_intra(value, 4) == pytest.approx(1.3 / 5)


def test_intra_one_step_explanation():
    value, least_stable = u.intra_uncertainty([0.9, 0.6], n_steps=1)
    assert value == pytest.approx(0.4 + 0.3)
    assert least_stable == 1


def test_intra_unparsed_answer_is_maximal():
    value, least_stable = u.intra_uncertainty(None, n_steps=3)
    assert value == 4.0 and least_stable is None
    assert u.normalized_intra(value, 3) == 1.0


def test_intra_rejects_wrong_number_of_confidences():
    with pytest.raises(ValueError, match="need 3 confidences"):
        u.intra_uncertainty([0.1, 0.2], n_steps=2)


def test_combined_score_mixes_with_alpha():
    # U_intra = mean(0.2, 0.6) = 0.4; u_inter = 0.5
    assert u.combined_score(0.5, [0.2, 0.6], alpha=0.5) == pytest.approx(0.45)
    assert u.combined_score(0.5, [0.2, 0.6], alpha=1.0) == pytest.approx(0.4)
    assert u.combined_score(0.5, [0.2, 0.6], alpha=0.0) == pytest.approx(0.5)


def test_chosen_explanation_agrees_with_majority_and_is_least_steady():
    answers = ["4", "5", "4", None]
    intra = [0.1, 0.9, 0.3, 1.0]
    assert u.majority_answer(answers) == "4"
    assert u.choose_explanation(answers, intra) == 2


def test_majority_tie_goes_to_first_sampled_and_none_falls_back_to_all():
    assert u.majority_answer(["5", "4", "4", "5"]) == "5"
    assert u.choose_explanation([None, None], [0.2, 0.7]) == 1


def test_least_confidence():
    assert u.least_confidence(0.0) == 0.0
    assert u.least_confidence(math.log(0.25)) == pytest.approx(0.75)


def test_auroc_by_hand():
    assert u.auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert u.auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    # positives 0.5, 0.3; negatives 0.4, 0.3: pairs (0.5>0.4, 0.5>0.3, 0.3<0.4, 0.3=0.3)
    assert u.auroc([0.5, 0.3, 0.4, 0.3], [True, True, False, False]) == pytest.approx(
        (1 + 1 + 0 + 0.5) / 4)
    assert u.auroc([0.5, 0.5], [True, True]) is None


def test_first_unsure_step_is_the_first_step_below_the_threshold():
    assert u.first_unsure_step([0.99, 0.95, 0.4, 0.2], 0.9) == 3
    assert u.first_unsure_step([0.99, 0.95], 0.9) is None
    assert u.first_unsure_step([0.5], 0.9) == 1
    assert u.first_unsure_step([], 0.9) is None
