"""Coverage-aware selection (`strategy=adaptive`): pure functions on vectors and counts.

Uncertainty sampling loses to random when the student is cold: its uncertainty says
little, and it never picks what the student gets wrong with confidence. What works at
low budgets is coverage (TypiClust, Hacohen et al. 2022): cluster the pool's
representations and take the most typical unlabelled question of the clusters the
labelled questions cover least. As the student gets competent, uncertainty takes over
(TCM, DCoM). Here the two rankings are interleaved: a share `competence` of every prefix
from the uncertainty ranking, the rest from the coverage ranking. Competence is the share
of the student's answers the teacher found right so far, shrunk towards the agreement
of the student's K sampled answers while there are few verdicts. Coverage also leans
towards clusters where the teacher found the student wrong more often.

The glue that reads the run store and the student is `adaptive.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

NEIGHBOURS = 20  # TypiClust's k for typicality (fewer in small clusters)
PRIOR_VERDICTS = 10.0  # pseudo-verdicts the sample agreement stands for in `competence`
CLUSTER_PRIOR = 2.0  # pseudo-verdicts of the overall wrong rate in each cluster's rate
WRONG_FLOOR = 0.1  # a cluster the student never got wrong still gets some questions


def clusters(vectors: np.ndarray, k: int, seed: int) -> KMeans:
    """k-means of the candidates' representations (k at most the number of them)."""
    from sklearn.cluster import KMeans  # 1.7 s to import, for `adaptive` runs only

    k = max(1, min(k, len(vectors)))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(vectors)


def typicality(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """TypiClust's typicality: 1 / the mean distance to a point's nearest neighbours in
    its own cluster (a lone point gets 1 / (1 + 0))."""
    result = np.zeros(len(vectors))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        points = vectors[members]
        distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
        n = min(NEIGHBOURS, len(members) - 1)
        if n == 0:
            result[members] = 1.0
            continue
        nearest = np.sort(distances, axis=1)[:, 1:n + 1]  # column 0: the point itself
        result[members] = 1.0 / (nearest.mean(axis=1) + 1e-12)
    return result


def wrong_rates(labels: np.ndarray, wrong: np.ndarray, k: int, overall: float) -> np.ndarray:
    """Per cluster, the share of teacher verdicts (`labels`: their clusters; `wrong`:
    the teacher found the student wrong) that were wrong, shrunk towards `overall` by
    `CLUSTER_PRIOR` pseudo-verdicts: a cluster with few verdicts says little."""
    counts = np.bincount(labels, minlength=k).astype(float)
    wrongs = np.bincount(labels, weights=wrong.astype(float), minlength=k)
    return (wrongs + CLUSTER_PRIOR * overall) / (counts + CLUSTER_PRIOR)


def coverage_order(labels: np.ndarray, typical: np.ndarray, covered: np.ndarray,
                   wrong_rate: np.ndarray) -> list[int]:
    """Candidate indices in coverage order. Each pick goes to the cluster with the most
    unlabelled mass per question it has (members left / (1 + covered + taken)),
    weighted by how often the student was wrong there, and takes its most typical
    member not yet taken."""
    k = len(covered)
    left = [sorted(np.flatnonzero(labels == c), key=lambda i: (-typical[i], i))
            for c in range(k)]
    taken = np.zeros(k)
    order: list[int] = []
    while len(order) < len(labels):
        priority = [len(left[c]) * (WRONG_FLOOR + wrong_rate[c]) / (1 + covered[c] + taken[c])
                    if left[c] else -1.0 for c in range(k)]
        best = int(np.argmax(priority))
        order.append(int(left[best].pop(0)))
        taken[best] += 1
    return order


def agreement(answers: list[list[str | None]]) -> float:
    """Mean share of a question's K sampled answers that agree with its most common
    parsed answer (an unparseable answer agrees with nothing): 0 with no questions."""
    shares = []
    for sampled in answers:
        parsed = [a for a in sampled if a is not None]
        top = max((parsed.count(a) for a in set(parsed)), default=0)
        shares.append(top / len(sampled) if sampled else 0.0)
    return float(np.mean(shares)) if shares else 0.0


def competence(right: int, verdicts: int, sample_agreement: float) -> float:
    """The student's estimated competence in [0, 1]: the share of the teacher's verdicts
    that found it right, with the K-sample agreement counted as `PRIOR_VERDICTS`
    verdicts (all there is in the first round; soon outweighed)."""
    return (right + PRIOR_VERDICTS * sample_agreement) / (verdicts + PRIOR_VERDICTS)


def teacher_agrees(teacher_answer: str | None, student_answer: str | None) -> bool:
    """Whether the teacher found the student right: its answer is the student's
    (normalized answers compared), whether it annotated the question or revised the
    student's explanation (a step corrected under the same answer changes nothing a
    test measures)."""
    return student_answer is not None and teacher_answer == student_answer


def interleave(first: list[str], second: list[str], share_second: float) -> list[str]:
    """The ids of `first` (and `second`: the same ids in another order) reordered so
    that a `share_second` of every prefix comes from `second`, each id once."""
    sources = {True: iter(second), False: iter(first)}
    order: list[str] = []
    taken: set[str] = set()
    drawn = 0
    while len(order) < len(first):
        from_second = drawn < share_second * (len(order) + 1) - 1e-9
        qid = next((q for q in sources[from_second] if q not in taken), None)
        if qid is None:  # that source is used up: the other has what is left
            qid = next(q for q in sources[not from_second] if q not in taken)
        order.append(qid)
        taken.add(qid)
        drawn += from_second
    return order
