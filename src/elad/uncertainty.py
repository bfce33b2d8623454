"""Uncertainty of a question from the student's own explanations (no model code here).

Definitions (docs/concepts.md, "Uncertainty, step by step"):

- u_inter(q): normalized entropy of the K sampled final answers (0 when all agree,
  1 when all differ); unparseable answers (None) each count as their own value.
- u_intra(e): (1 - c_n) + sum_i max(0, c_(i-1) - c_i), where c_i is the student's
  probability of its own answer after step prefix i (c_0: no steps). The largest drop
  marks the least stable step. An explanation with no parseable answer gets the maximum,
  n + 1.
- u(q) = alpha * U_intra(q) + (1 - alpha) * u_inter(q), with
  U_intra(q) = mean_k u_intra(e_k) / (1 + n_k), in [0, 1].
- least confidence (a baseline): 1 - exp(mean token log-probability of the greedy
  explanation).

`auroc` is the diagnostic: how well a score ranks the questions the student gets wrong.
"""

from __future__ import annotations

import math
from collections import Counter


def answer_entropy(answers: list[str | None]) -> float:
    """u_inter: entropy of the answer distribution divided by its maximum, log K."""
    k = len(answers)
    if k <= 1:
        return 0.0
    counts = Counter(a if a is not None else ("<unparsed>", i) for i, a in enumerate(answers))
    entropy = -sum(c / k * math.log(c / k) for c in counts.values())
    return max(0.0, entropy / math.log(k))  # never -0.0 when all agree


def intra_uncertainty(confidences: list[float] | None, n_steps: int) -> tuple[float, int | None]:
    """u_intra of one explanation and its least stable step (1-based; None if no drop).

    `confidences` are c_0..c_n (n + 1 values), or None when the answer did not parse.
    """
    if confidences is None:
        return float(n_steps + 1), None
    if len(confidences) != n_steps + 1:
        raise ValueError(f"need {n_steps + 1} confidences for {n_steps} steps, "
                         f"got {len(confidences)}")
    drops = [max(0.0, before - after) for before, after in zip(confidences, confidences[1:])]
    least_stable = None
    if drops and max(drops) > 0:
        least_stable = drops.index(max(drops)) + 1
    return (1.0 - confidences[-1]) + sum(drops), least_stable


def normalized_intra(u_intra: float, n_steps: int) -> float:
    """u_intra scaled into [0, 1] by its maximum, n + 1."""
    return u_intra / (1 + n_steps)


def majority_answer(answers: list[str | None]) -> str | None:
    """Most common parseable answer; ties go to the one sampled first."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def choose_explanation(answers: list[str | None], intra: list[float]) -> int:
    """Index of e*: among explanations giving the majority answer, the one with the
    highest intra uncertainty (all explanations if no answer parsed)."""
    majority = majority_answer(answers)
    candidates = [i for i, a in enumerate(answers) if a == majority] or list(range(len(answers)))
    return max(candidates, key=lambda i: (intra[i], -i))


def combined_score(u_inter: float, intra_normalized: list[float], alpha: float) -> float:
    """u(q) = alpha * mean normalized u_intra + (1 - alpha) * u_inter."""
    mean_intra = sum(intra_normalized) / len(intra_normalized) if intra_normalized else 0.0
    return alpha * mean_intra + (1 - alpha) * u_inter


def least_confidence(mean_logprob: float) -> float:
    """1 - the geometric-mean token probability of the greedy explanation, in [0, 1]."""
    return 1.0 - math.exp(mean_logprob)


def auroc(scores: list[float], positives: list[bool]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count
    half): how well `scores` rank the positives first. None without both classes."""
    pos = [s for s, p in zip(scores, positives) if p]
    neg = [s for s, p in zip(scores, positives) if not p]
    if not pos or not neg:
        return None
    ranked = sorted(scores)
    # average 1-based rank of each distinct value, so ties share their ranks
    first: dict[float, int] = {}
    last: dict[float, int] = {}
    for i, s in enumerate(ranked, 1):
        first.setdefault(s, i)
        last[s] = i
    rank_sum = sum((first[s] + last[s]) / 2 for s in pos)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def first_unsure_step(token_confidence: list[float], threshold: float) -> int | None:
    """Where the student's explanation probably goes wrong first: the 1-based number of
    the first step (the answer line is the last) in which the student gave some token a
    probability below `threshold`, or None if it was that sure of every token. How often
    it is the teacher's first wrong step: BENCHMARKS.md."""
    return next((i for i, c in enumerate(token_confidence, 1) if c < threshold), None)
