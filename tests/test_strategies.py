"""Ranking, budget-constrained selection, the diversity filter and the diagnostic."""

import pytest

from elad.strategies import (
    STRATEGIES,
    auroc_by_strategy,
    errors_first,
    rank,
    unlike_chosen,
    with_random_share,
    within_budget,
)
from elad.types import Score


def make(qid, u_inter, u_intra, score, least_confidence, greedy="1"):
    return Score(qid, u_inter, u_intra, score, 0, None, [], least_confidence, greedy)


SCORES = [make("a", 0.9, 0.1, 0.5, 0.2), make("b", 0.1, 0.8, 0.45, 0.9),
          make("c", 0.5, 0.5, 0.6, 0.1), make("d", 0.0, 0.0, 0.0, 0.0)]


@pytest.mark.parametrize("strategy, order", [
    ("entropy", "acbd"), ("intra", "bcad"), ("elad", "cabd"), ("least-confidence", "bacd"),
])
def test_each_strategy_ranks_by_its_own_number(strategy, order):
    assert "".join(s.example_id for s in rank(strategy, SCORES, seed=0)) == order


def test_cost_aware_ranks_by_value_per_expected_dollar():
    # elad's values: c 0.6, a 0.5, b 0.45; c costs three times a's and b's
    costs = {"a": 1.0, "b": 1.0, "c": 3.0, "d": 1.0}
    assert "".join(s.example_id for s in rank("elad", SCORES, 0, costs)) == "abcd"
    weights = {"a": 0.1, "b": 1.0, "c": 1.0, "d": 1.0}  # targeted's, then per dollar
    assert "".join(s.example_id for s in rank("elad", SCORES, 0, costs, weights)) == "bcad"
    assert rank("random", SCORES, 1, costs) == rank("random", SCORES, 1)  # no value to weigh


def test_random_is_seeded_and_covers_all():
    first = [s.example_id for s in rank("random", SCORES, seed=1)]
    assert first == [s.example_id for s in rank("random", list(reversed(SCORES)), seed=1)]
    assert sorted(first) == ["a", "b", "c", "d"]
    assert STRATEGIES == ("random", "entropy", "least-confidence", "intra", "elad", "adaptive",
                          "targeted", "oracle")


def test_oracle_puts_the_students_wrong_answers_first_in_ranking_order():
    scores = [make(q, 0, 0, 0, 0, greedy=g) for q, g in zip("abcde", "12345")]
    answers = {"a": "1", "b": "9", "c": "3", "d": "9", "e": None}  # e: no known answer
    assert errors_first(list("edcba"), scores, answers) == list("dbeca")


def test_selection_skips_what_does_not_fit_the_budget():
    costs = {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.1}
    assert within_budget(list("abcd"), 3, costs.get, left=0.45) == ["b", "c"]
    assert within_budget(list("abcd"), 2, costs.get, left=10) == ["a", "b"]


def test_diversity_filter_skips_near_duplicates():
    vectors = {"a": (1.0, 0.0), "b": (0.99, 0.141), "c": (0.0, 1.0), "d": (0.7, 0.714)}

    def similarity(x, y):
        return sum(p * q for p, q in zip(vectors[x], vectors[y]))

    cost = {q: 0.0 for q in vectors}.get
    assert within_budget(list("abcd"), 3, cost, 1.0, unlike_chosen(similarity, 0.95)) == [
        "a", "c", "d"]
    assert within_budget(list("abcd"), 3, cost, 1.0, unlike_chosen(similarity, 0.5)) == [
        "a", "c"]
    assert within_budget(list("abcd"), 3, cost, 1.0) == ["a", "b", "c"]


def test_auroc_diagnostic_by_hand():
    # the student is wrong on a and b (greedy answer 1, hidden 2), right on c and d
    hidden = {"a": "2", "b": "2", "c": "1", "d": "1"}
    result = auroc_by_strategy(SCORES, hidden)
    assert result["least-confidence"] == 1.0  # b 0.9, a 0.2 above c 0.1, d 0.0
    assert result["elad"] == pytest.approx(0.5)  # a, b above d, both below c
    assert result["entropy"] == pytest.approx(0.75)
    assert 0.0 <= result["random"] <= 1.0


def test_a_random_share_of_every_prefix():
    ranked = [f"q{i:03d}" for i in range(100)]
    mixed = with_random_share(ranked, 0.25, seed=7)
    assert sorted(mixed) == ranked  # every question once
    for n in (4, 20, 50):  # of the first n, a quarter are not the top of the ranking
        assert sum(q not in ranked[:n] for q in mixed[:n]) <= n // 4
        assert sum(q in ranked[:n] for q in mixed[:n]) >= n - n // 4
    strays = [q for q in mixed[:40] if q not in ranked[:30]]
    assert len(strays) >= 7  # drawn from the whole ranking, not the next in line
    assert mixed == with_random_share(ranked, 0.25, seed=7)
    assert mixed != with_random_share(ranked, 0.25, seed=8)
    assert with_random_share(ranked, 0.0, seed=7) == ranked
    assert sorted(with_random_share(ranked, 1.0, seed=7)) == ranked


def test_ties_are_broken_at_random_not_by_id():
    """Most candidates tie on answer entropy; ids that start with a task's name must not
    decide which task the teacher is asked about."""
    scores = [make(f"{task}-{i:03d}", 0.0, 0.0, 0.0, 0.0)
              for task in ("arithmetic", "coin_flip") for i in range(50)]
    top = [s.example_id for s in rank("entropy", scores, seed=3)[:50]]
    assert 10 < sum(q.startswith("coin_flip") for q in top) < 40
    assert top == [s.example_id for s in rank("entropy", list(reversed(scores)), seed=3)[:50]]
    assert top != [s.example_id for s in rank("entropy", scores, seed=4)[:50]]
