"""Coverage-aware selection (coverage.py) on hand-made vectors, and strategy=adaptive in a
run; and the oracle ceiling in a run."""

import numpy as np

from elad import adaptive, coverage, ranking
from elad.config import load_config
from elad.loop import run
from elad.store import RunStore
from elad.strategies import rank
from elad.tasks import synthetic
from elad.types import Example, Score, TeacherReply

from conftest import TINY

# two tight groups on the x and y axes; index 2 and 5 are each group's odd one out
GROUPS = np.array([[1.0, 0.0], [0.98, 0.02], [0.8, 0.2],
                   [0.0, 1.0], [0.02, 0.98], [0.2, 0.8]])


def test_k_means_finds_the_two_groups():
    labels = coverage.clusters(GROUPS, 2, seed=0).labels_
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1
    assert labels[0] != labels[3]
    assert coverage.clusters(GROUPS, 50, seed=0).n_clusters == 6  # at most one per point


def test_typicality_is_highest_in_the_dense_middle():
    labels = np.array([0, 0, 0, 1, 1, 1])
    typical = coverage.typicality(GROUPS, labels)
    assert typical[1] > typical[0] > typical[2]  # 1 is nearest both others; 2 is the odd one
    assert typical[4] > typical[3] > typical[5]
    assert coverage.typicality(np.zeros((1, 2)), np.array([0]))[0] == 1.0  # a lone point


def test_the_least_covered_cluster_gives_its_most_typical_question_first():
    labels = np.array([0, 0, 0, 1, 1, 1])
    typical = coverage.typicality(GROUPS, labels)
    same_rates = np.array([0.5, 0.5])
    order = coverage.coverage_order(labels, typical, np.array([5.0, 0.0]), same_rates)
    assert order[0] == 4 and sorted(order) == list(range(6))
    # equally covered: the clusters take turns, each from its most typical member down
    order = coverage.coverage_order(labels, typical, np.array([0.0, 0.0]), same_rates)
    assert order[:2] == [1, 4] and order[2:4] == [0, 3]


def test_clusters_where_the_student_was_wrong_get_more_questions():
    labels = np.array([0] * 6 + [1] * 6)
    typical = np.ones(12)
    order = coverage.coverage_order(labels, typical, np.zeros(2), np.array([0.0, 0.9]))
    first_six = [labels[i] for i in order[:6]]
    assert first_six[0] == 1 and first_six.count(1) >= 4


def test_wrong_rates_are_shrunk_towards_the_overall_rate():
    rates = coverage.wrong_rates(np.array([0, 0, 0, 0, 1]), np.array([1, 1, 1, 1, 0]),
                                 k=3, overall=0.5)
    assert rates[0] == (4 + 2 * 0.5) / (4 + 2)
    assert rates[1] == (0 + 2 * 0.5) / (1 + 2)
    assert rates[2] == 0.5  # no verdict: the overall rate


def test_agreement_competence_and_verdicts():
    assert coverage.agreement([["1", "1", "2", None], [None, None]]) == (0.5 + 0.0) / 2
    assert coverage.agreement([]) == 0.0
    assert coverage.competence(0, 0, 0.7) == 0.7  # no verdict yet: the agreement alone
    assert coverage.competence(90, 90, 0.0) == 0.9  # 90 right of 90, agreement 0
    assert coverage.teacher_agrees("5", "5")
    assert not coverage.teacher_agrees("5", "6")
    assert not coverage.teacher_agrees("5", None)  # the student gave no answer
    assert not coverage.teacher_agrees(None, None)


def test_interleave_takes_its_share_of_every_prefix_from_the_second():
    first, second = list("abcdef"), list("fedcba")
    assert coverage.interleave(first, second, 0.0) == first
    assert coverage.interleave(first, second, 1.0) == second
    mixed = coverage.interleave(first, second, 0.5)
    assert mixed == ["f", "a", "e", "b", "d", "c"]


def test_adaptive_strategy_in_a_run(tmp_path):
    config = load_config(None, [*TINY, "strategy=adaptive", "max_rounds=2",
                                "mode=auto"])
    records, _ = run(config, tmp_path)
    assert [r.strategy for r in records] == ["adaptive"] * 3
    store = RunStore(tmp_path / "run.sqlite")
    for round in (1, 2):
        selected = store.selection(round)
        scored = {s.example_id for s in store.scores(round)}
        assert len(selected) == len(set(selected)) > 0 and set(selected) <= scored
    store.close()


def test_oracle_strategy_in_a_run_sends_the_students_errors_first(tmp_path, monkeypatch):
    known = {}  # the answers the oracle is told: those of half the pool, by id

    def half_known(example, config=None):
        if int(example.id.rsplit("-", 1)[1]) % 2:
            return None  # an unknown answer ranks as a right one
        known[example.id] = synthetic.solve(example.question)[1]
        return known[example.id]

    monkeypatch.setattr(ranking, "hidden_answer", half_known)
    run(load_config(None, [*TINY, "strategy=oracle", "max_rounds=1"]), tmp_path)
    store = RunStore(tmp_path / "run.sqlite")
    wrong = {s.example_id for s in store.scores(1)
             if s.example_id in known and s.greedy_answer != known[s.example_id]}
    selected = set(store.selection(1))
    store.close()
    assert wrong and selected
    assert wrong <= selected if len(wrong) <= len(selected) else selected <= wrong


def test_targeted_strategy_in_a_run_reads_whether_the_teacher_found_the_student_wrong(
        tmp_path):
    config = load_config(None, [*TINY, "strategy=targeted", "max_rounds=2", "mode=auto"])
    records, _ = run(config, tmp_path)
    assert [r.strategy for r in records] == ["targeted"] * 3
    with RunStore(tmp_path / "run.sqlite") as store:
        wrong = adaptive.greedy_wrong(store)
        for round in (1, 2):
            selected = store.selection(round)
            assert len(selected) == len(set(selected)) > 0
            assert set(selected) <= {s.example_id for s in store.scores(round)}
        replies = {c.example_id: c.reply for c in store.teacher_calls(1)}
        greedy = {s.example_id: s.greedy_answer for s in store.scores(1)}
    assert set(wrong) >= set(replies)  # round 0 was not scored (a student from scratch)
    assert all(wrong[q] == (r.answer != greedy[q]) for q, r in replies.items())


class TwoKinds:
    """The one Student method the targeted ranking uses: questions of kind A and of kind
    B far apart in representation space."""

    def embed(self, questions):
        return [[1.0, 0.0] if q.startswith("A") else [0.0, 1.0] for q in questions]


def test_targeted_ranking_weights_uncertainty_by_how_often_the_student_was_wrong_there(
        tmp_path):
    judged = [Example(f"j{i}", "t", f"{'AB'[i % 2]} judged {i}") for i in range(20)]
    candidates = [Example(f"c{i}", "t", f"{'AB'[i % 2]} new {i}") for i in range(4)]
    scores = [Score(e.id, 0, 0, 0.3 if e.question[0] == "A" else 0.6, 0, None)
              for e in candidates]

    def ranked(weights):
        return [s.example_id for s in rank("targeted", scores, 0, weights=weights)]

    with RunStore(tmp_path / "run.sqlite") as store:
        store.add_examples("pool", judged + candidates)
        before = ranked(adaptive.targeted_weights(TwoKinds(), store, candidates, 0))
        store.save_scoring(0, {}, {}, [Score(e.id, 0, 0, 0, 0, None, greedy_answer="1")
                                       for e in judged])
        for e in judged:  # the teacher: the student was wrong on every A, right on every B
            answer = "2" if e.question[0] == "A" else "1"
            store.save_teacher_call(e.id, 0, e.id, {},
                                    TeacherReply("annotate", None, ["s"], answer, 1, 1), 0.0)
        after = ranked(adaptive.targeted_weights(TwoKinds(), store, candidates, 0))
    assert sorted(before[:2]) == ["c1", "c3"]  # B: the more uncertain
    assert sorted(after[:2]) == ["c0", "c2"]  # A: where the teacher found it wrong
