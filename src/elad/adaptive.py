"""The strategies that read the teacher's verdicts and the student's representations in a
run (docs/concepts.md, "Strategies"): `targeted`, ELAD's uncertainty weighted by how
often the student was wrong among similar questions, and `adaptive`, coverage of the
pool mixed with uncertainty by the student's competence (coverage.py).

The clusters are those of this round's candidates (the student's `embed`); the
questions already sent to the teacher are assigned to them. `adaptive` counts them as
covering their clusters and reads the verdicts of the rounds after the seed round (the
saturation signal: whether the teacher's answer was that of the explanation the student
would have shown it, in that round). `targeted` reads whether the teacher's answer was
the student's greedy answer, in every round the student scored (a ranked seed round's
too): what a test measures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from elad import coverage
from elad.store import RunStore
from elad.types import Example, Score, TeacherReply

if TYPE_CHECKING:  # the stop rule reads the verdicts here without loading torch
    from sklearn.cluster import KMeans

    from elad.student.protocol import Student


def student_answer(score: Score) -> str | None:
    """The student's answer to a scored question: that of the explanation the teacher
    would see (the majority answer), else its greedy answer."""
    if score.answers and 0 <= score.chosen < len(score.answers):
        return score.answers[score.chosen]
    return score.greedy_answer


def student_was_right(store: RunStore, round: int, qid: str,
                      reply: TeacherReply) -> bool | None:
    """Whether the teacher's reply about `qid` in `round` found the student right (the
    saturation signal, the same in every mode and for either operation): its answer is
    the student's; None for a question the student did not answer in that round."""
    scores = store.scores(round, qid)
    if not scores:
        return None
    return coverage.teacher_agrees(reply.answer, student_answer(scores[0]))


def verdicts(store: RunStore, round: int | None = None) -> dict[str, bool | None]:
    """Question id -> `student_was_right`, for every usable reply of the rounds after the
    seed round (of `round` alone, if given): what adaptive selection and the stop rule's
    saturation read."""
    return {call.example_id: student_was_right(store, call.round, call.example_id,
                                               call.reply)
            for call in store.teacher_calls(round) if call.round > 0 and call.ok}


def teacher_verdicts(store: RunStore) -> dict[str, bool]:
    """Question id -> whether the teacher found the student right, for every usable reply
    of a round after the seed round whose question the student had answered."""
    return {qid: right for qid, right in verdicts(store).items() if right is not None}


def candidate_clusters(student: Student, candidates: list[Example], seed: int
                       ) -> tuple[np.ndarray, KMeans]:
    """The candidates' representations (the student's `embed`) and their k-means
    clusters, about sqrt(m) of them."""
    vectors = np.asarray(student.embed([e.question for e in candidates]), dtype=float)
    return vectors, coverage.clusters(vectors, round(len(candidates) ** 0.5), seed)


def cluster_of(student: Student, model: KMeans, questions: list[str]) -> np.ndarray:
    """The cluster each of `questions` (already asked) falls in."""
    return model.predict(np.asarray(student.embed(questions), dtype=float))


def adaptive_ranking(student: Student, store: RunStore, candidates: list[Example],
                     scores: list[Score], uncertain_first: list[str], seed: int) -> list[str]:
    """The candidate ids in `strategy=adaptive` order: the coverage ranking and
    `uncertain_first` (ELAD's ranking) interleaved, a share `competence` of every prefix
    from the uncertainty ranking."""
    labelled = {t.example_id: t.question for t in store.targets()}
    verdicts = teacher_verdicts(store)
    ids = [e.id for e in candidates]
    vectors, model = candidate_clusters(student, candidates, seed)
    k = model.n_clusters
    covered = np.zeros(k)
    verdict_labels, wrong = np.zeros(0, dtype=int), np.zeros(0, dtype=bool)
    if labelled:
        known = list(labelled)
        labels = cluster_of(student, model, [labelled[q] for q in known])
        covered = np.bincount(labels, minlength=k).astype(float)
        judged = [i for i, q in enumerate(known) if q in verdicts]
        verdict_labels = labels[judged]
        wrong = np.array([not verdicts[known[i]] for i in judged], dtype=bool)
    right = sum(verdicts.values())
    skill = coverage.competence(right, len(verdicts),
                                coverage.agreement([s.answers for s in scores]))
    rates = coverage.wrong_rates(verdict_labels, wrong, k, 1.0 - skill)
    typical = coverage.typicality(vectors, model.labels_)
    by_coverage = [ids[i] for i in coverage.coverage_order(model.labels_, typical,
                                                           covered, rates)]
    return coverage.interleave(by_coverage, uncertain_first, skill)


def greedy_wrong(store: RunStore) -> dict[str, bool]:
    """Question id -> whether the teacher found the student's greedy answer wrong (its
    answer is another), for every usable reply about a question the student had scored
    (a ranked seed round's too): where the student was wrong on what a test measures,
    including the confident errors no uncertainty score sees."""
    greedy = {(round, s.example_id): s.greedy_answer for round in store.scored_rounds()
              for s in store.scores(round)}
    return {call.example_id: not coverage.teacher_agrees(
                call.reply.answer, greedy[call.round, call.example_id])
            for call in store.teacher_calls()
            if call.ok and call.reply.answer is not None
            and (call.round, call.example_id) in greedy}


def targeted_weights(student: Student, store: RunStore, candidates: list[Example],
                     seed: int) -> dict[str, float]:
    """`strategy=targeted`: what each candidate's u(q) is multiplied by, the rate at
    which the teacher found the student's answers wrong in its cluster of the student's
    representations (`coverage.wrong_rates`; 1 for all before any verdict)."""
    _, model = candidate_clusters(student, candidates, seed)
    rates = np.ones(model.n_clusters)
    wrong = greedy_wrong(store)
    if wrong:
        judged = store.examples("pool", list(wrong))
        flags = np.array([wrong[e.id] for e in judged], dtype=bool)
        rates = coverage.wrong_rates(cluster_of(student, model, [e.question for e in judged]),
                                     flags, model.n_clusters, float(flags.mean()))
    return {e.id: float(rates[label]) for e, label in zip(candidates, model.labels_)}
